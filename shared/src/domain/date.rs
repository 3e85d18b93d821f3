//! Completion dates as spreadsheets write them. Day-before-month or month-before-day is
//! decided once per file ([`DateOrder::detect`]) or given by the admin; never per row.

use super::issue::IssueCode;
use super::normalize::clip;
use chrono::{Datelike, NaiveDate};

/// A completion date that is real, not in the future and not before the floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CompletionDate(NaiveDate);

/// How to read `03/04/2024`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateOrder {
    DayFirst,
    MonthFirst,
    /// Not settled: rows whose day and month could swap are errors.
    Undecided,
}

impl DateOrder {
    /// `dmy`, `mdy` or `auto` (the import option `date_format`).
    pub fn from_option(s: &str) -> Result<Option<DateOrder>, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(None),
            "dmy" | "dd/mm/yyyy" => Ok(Some(DateOrder::DayFirst)),
            "mdy" | "mm/dd/yyyy" => Ok(Some(DateOrder::MonthFirst)),
            other => Err(format!(
                "date_format '{}' is not one of: auto, dmy, mdy",
                clip(other)
            )),
        }
    }

    /// Decides the order for a whole file from the dates that settle it: a first part
    /// above 12 means day-first, a second part above 12 means month-first. A file with
    /// both kinds stays undecided (its ambiguous rows are reported, never guessed).
    pub fn detect<'a>(dates: impl IntoIterator<Item = &'a str>) -> DateOrder {
        let (mut day_first, mut month_first) = (false, false);
        for raw in dates {
            if let Some((a, b, _, _)) = numeric_parts(strip_time(raw.trim())) {
                if a > 12 && b <= 12 {
                    day_first = true;
                } else if b > 12 && a <= 12 {
                    month_first = true;
                }
            }
        }
        match (day_first, month_first) {
            (true, false) => DateOrder::DayFirst,
            (false, true) => DateOrder::MonthFirst,
            _ => DateOrder::Undecided,
        }
    }
}

pub const DATE_FLOOR: (i32, u32, u32) = (1950, 1, 1);

impl CompletionDate {
    pub fn parse(
        raw: &str,
        order: DateOrder,
        today: NaiveDate,
    ) -> Result<CompletionDate, (IssueCode, String)> {
        let s = strip_time(raw.trim());
        let (date, two_digit_year) = parse_any(s, order)
            .map_err(|(code, why)| (code, format!("'{}' {}", clip(raw), why)))?;
        // A two-digit year takes the century that does not put the date in the future:
        // "65" is 1965, "24" is 2024.
        let date = match two_digit_year {
            true if date > today => date.with_year(date.year() - 100).unwrap_or(date),
            _ => date,
        };
        let floor =
            NaiveDate::from_ymd_opt(DATE_FLOOR.0, DATE_FLOOR.1, DATE_FLOOR.2).expect("valid floor");
        if date > today {
            return Err((IssueCode::FutureDate, format!("{date} is in the future")));
        }
        if date < floor {
            return Err((IssueCode::DateTooOld, format!("{date} is before {floor}")));
        }
        Ok(CompletionDate(date))
    }

    pub fn from_iso(s: &str) -> Option<CompletionDate> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(CompletionDate)
    }

    /// Days since 1 January of year 1: a compact, ordered number for the date.
    pub fn day_number(&self) -> i32 {
        self.0.num_days_from_ce()
    }

    pub fn iso(&self) -> String {
        self.0.format("%Y-%m-%d").to_string()
    }
}

fn strip_time(s: &str) -> &str {
    // "2024-03-31T10:00:00Z", "31/03/2024 00:00" -> the date part only.
    let s = match s.find('T') {
        Some(i) if i >= 8 && s[..i].chars().all(|c| c.is_ascii_digit() || c == '-') => &s[..i],
        _ => s,
    };
    match s.find(' ') {
        Some(i) if s[i..].contains(':') && !s[..i].chars().any(|c| c.is_alphabetic()) => &s[..i],
        _ => s,
    }
}

/// `a/b/y` with `/`, `-` or `.` separators; y may have 2 or 4 digits (whether it had 2 is
/// the last part: see [`expand_year`]).
fn numeric_parts(s: &str) -> Option<(u32, u32, i32, bool)> {
    let sep = s.chars().find(|c| matches!(c, '/' | '-' | '.'))?;
    let parts: Vec<&str> = s.split(sep).collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    if parts[0].len() == 4 {
        return None; // year first: ISO-like, handled separately
    }
    if parts[0].len() > 2 || parts[1].len() > 2 || !(parts[2].len() == 2 || parts[2].len() == 4) {
        return None;
    }
    let year = expand_year(parts[2].parse().ok()?, parts[2].len());
    Some((
        parts[0].parse().ok()?,
        parts[1].parse().ok()?,
        year,
        parts[2].len() == 2,
    ))
}

/// A two-digit year is read in the 2000s here; [`CompletionDate::parse`] moves it to
/// the 1900s when that would put the date in the future.
fn expand_year(y: i32, digits: usize) -> i32 {
    if digits == 4 {
        y
    } else {
        2000 + y
    }
}

fn ymd(y: i32, m: u32, d: u32) -> Result<NaiveDate, (IssueCode, String)> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or((
        IssueCode::InvalidDate,
        format!("is not a real date (year {y}, month {m}, day {d})"),
    ))
}

/// The date, and whether its year was written with two digits.
fn parse_any(s: &str, order: DateOrder) -> Result<(NaiveDate, bool), (IssueCode, String)> {
    if s.is_empty() {
        return Err((IssueCode::MissingValue, "is empty".into()));
    }
    // Year first: 2024-03-31, 2024/3/31, 2024.03.31
    if let Some(sep) = s.chars().find(|c| matches!(c, '/' | '-' | '.')) {
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() == 3
            && parts[0].len() == 4
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 4 && p.chars().all(|c| c.is_ascii_digit()))
        {
            return ymd(
                parts[0].parse().unwrap_or(0),
                parts[1].parse().unwrap_or(0),
                parts[2].parse().unwrap_or(0),
            )
            .map(|d| (d, false));
        }
    }
    if let Some((a, b, y, two_digit_year)) = numeric_parts(s) {
        let (d, m) = if a > 12 || a == b {
            (a, b)
        } else if b > 12 {
            (b, a)
        } else {
            match order {
                DateOrder::DayFirst => (a, b),
                DateOrder::MonthFirst => (b, a),
                DateOrder::Undecided => {
                    return Err((
                        IssueCode::AmbiguousDate,
                        "could be day/month or month/day and no row of the file settles which"
                            .into(),
                    ))
                }
            }
        };
        return ymd(y, m, d).map(|date| (date, two_digit_year));
    }
    // Excel serial day number (days since 1899-12-30), as exported from a date cell
    // formatted as a number.
    if s.len() == 5 && s.chars().all(|c| c.is_ascii_digit()) {
        let n: i64 = s.parse().unwrap_or(0);
        let base = NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid base");
        return base
            .checked_add_days(chrono::Days::new(n as u64))
            .map(|d| (d, false))
            .ok_or((IssueCode::InvalidDate, "is not a date".into()));
    }
    parse_with_month_name(s).ok_or((
        IssueCode::InvalidDate,
        "is not a date: write it as YYYY-MM-DD".into(),
    ))?
}

fn month_from_name(t: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let t = t.to_lowercase();
    if t.len() < 3 {
        return None;
    }
    let t = if t == "sept" { "sep".to_string() } else { t };
    MONTHS
        .iter()
        .position(|m| m.starts_with(t.as_str()))
        .map(|i| i as u32 + 1)
}

/// "31 Mar 2024", "March 31, 2024", "31-Mar-24" (and whether the year had two digits).
fn parse_with_month_name(s: &str) -> Option<Result<(NaiveDate, bool), (IssueCode, String)>> {
    let tokens: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '-' | '/' | '.'))
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.len() != 3 {
        return None;
    }
    let month_at = tokens
        .iter()
        .position(|t| t.chars().all(char::is_alphabetic))?;
    let month = month_from_name(tokens[month_at])?;
    let nums: Vec<&str> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != month_at)
        .map(|(_, t)| *t)
        .collect();
    if nums
        .iter()
        .any(|t| !t.chars().all(|c| c.is_ascii_digit()) || t.len() > 4)
    {
        return None;
    }
    let (day, year) = if nums[0].len() == 4 {
        (nums[1], nums[0])
    } else {
        (nums[0], nums[1])
    };
    let day: u32 = day.strip_suffix("st").unwrap_or(day).parse().ok()?;
    let y = expand_year(year.parse().ok()?, year.len());
    Some(ymd(y, month, day).map(|d| (d, year.len() == 2)))
}

impl CompletionDate {
    pub fn year(&self) -> i32 {
        self.0.year()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }
    fn p(s: &str, o: DateOrder) -> Result<String, IssueCode> {
        CompletionDate::parse(s, o, today())
            .map(|d| d.iso())
            .map_err(|e| e.0)
    }

    #[test]
    fn a_two_digit_year_takes_the_century_that_keeps_the_date_out_of_the_future() {
        let d = DateOrder::DayFirst;
        assert_eq!(p("01/02/65", d).unwrap(), "1965-02-01");
        assert_eq!(p("31.12.23", d).unwrap(), "2023-12-31");
        assert_eq!(p("3 Mar 70", d).unwrap(), "1970-03-03");
        assert_eq!(p("1-Mar-99", d).unwrap(), "1999-03-01");
        // Today is this century; tomorrow is not, and 1926 is before the floor.
        assert_eq!(p("25/11/26", d).unwrap(), "2026-11-25");
        assert_eq!(p("26/11/26", d).unwrap_err(), IssueCode::DateTooOld);
        assert_eq!(p("01/01/49", d).unwrap_err(), IssueCode::DateTooOld);
        // Four digits are taken as written.
        assert_eq!(p("01/02/2065", d).unwrap_err(), IssueCode::FutureDate);
    }

    #[test]
    fn iso_and_common_spreadsheet_forms_are_read() {
        let u = DateOrder::Undecided;
        assert_eq!(p("2024-03-31", u).unwrap(), "2024-03-31");
        assert_eq!(p("2024/3/31", u).unwrap(), "2024-03-31");
        assert_eq!(p("2024-03-31T09:15:00Z", u).unwrap(), "2024-03-31");
        assert_eq!(p("31/03/2024", u).unwrap(), "2024-03-31");
        assert_eq!(p("03/31/2024", u).unwrap(), "2024-03-31");
        assert_eq!(p("31.03.24", u).unwrap(), "2024-03-31");
        assert_eq!(p("31 Mar 2024", u).unwrap(), "2024-03-31");
        assert_eq!(p("March 31, 2024", u).unwrap(), "2024-03-31");
        assert_eq!(p("31-Mar-24", u).unwrap(), "2024-03-31");
        assert_eq!(p("45382", u).unwrap(), "2024-03-31");
        assert_eq!(p("31/03/2024 00:00", u).unwrap(), "2024-03-31");
    }

    #[test]
    fn day_month_order_is_applied_only_when_decided() {
        assert_eq!(p("03/04/2024", DateOrder::DayFirst).unwrap(), "2024-04-03");
        assert_eq!(
            p("03/04/2024", DateOrder::MonthFirst).unwrap(),
            "2024-03-04"
        );
        assert_eq!(
            p("03/04/2024", DateOrder::Undecided),
            Err(IssueCode::AmbiguousDate)
        );
        assert_eq!(p("04/04/2024", DateOrder::Undecided).unwrap(), "2024-04-04");
    }

    #[test]
    fn file_order_is_detected_from_rows_that_settle_it() {
        assert_eq!(
            DateOrder::detect(["03/04/2024", "25/12/2023"]),
            DateOrder::DayFirst
        );
        assert_eq!(
            DateOrder::detect(["03/04/2024", "12/25/2023"]),
            DateOrder::MonthFirst
        );
        assert_eq!(DateOrder::detect(["03/04/2024"]), DateOrder::Undecided);
        assert_eq!(
            DateOrder::detect(["25/12/2023", "12/25/2023"]),
            DateOrder::Undecided
        );
    }

    #[test]
    fn impossible_future_and_ancient_dates_are_errors() {
        assert_eq!(
            p("2023-02-30", DateOrder::Undecided),
            Err(IssueCode::InvalidDate)
        );
        assert_eq!(
            p("2027-01-01", DateOrder::Undecided),
            Err(IssueCode::FutureDate)
        );
        assert_eq!(
            p("1901-01-01", DateOrder::Undecided),
            Err(IssueCode::DateTooOld)
        );
        assert_eq!(
            p("yesterday", DateOrder::Undecided),
            Err(IssueCode::InvalidDate)
        );
        assert_eq!(p("", DateOrder::Undecided), Err(IssueCode::MissingValue));
    }
}
