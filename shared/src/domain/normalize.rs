//! Normalised values that people are matched by. Each type can only hold a checked,
//! canonical value, so two spellings of the same email, phone or name compare equal.

use super::status::MatchMethod;
use rlibphonenumber::{PhoneNumber as RlPhoneNumber, PhoneNumberFormat, Region, PHONE_NUMBER_UTIL};
use unicode_normalization::UnicodeNormalization;

/// An email address, trimmed and lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, String> {
        let s = raw.trim().trim_matches(|c| c == '<' || c == '>').trim();
        let s = s.strip_prefix("mailto:").unwrap_or(s);
        let lower = s.to_lowercase();
        let Some((local, domain)) = lower.split_once('@') else {
            return Err(format!("'{}' has no '@'", clip(raw)));
        };
        let ok_local = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !"@,;<>()[]\\\"".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let ok_domain = labels.len() >= 2
            && domain.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()));
        if ok_local && ok_domain {
            Ok(Email(lower))
        } else {
            Err(format!("'{}' is not a valid email address", clip(raw)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A likely typo of a common mail domain ("gmial.com"), with the domain meant.
    pub fn domain_typo(&self) -> Option<&'static str> {
        domain_typo(self.0.rsplit('@').next()?)
    }
}

/// Likely typos by mail domain, each domain checked once.
#[derive(Default)]
pub struct DomainTypos(std::collections::HashMap<String, Option<&'static str>>);

impl DomainTypos {
    /// The common domain an (already normalised) address's domain is likely a typo of.
    pub fn of(&mut self, email: &str) -> Option<&'static str> {
        let domain = email.rsplit('@').next()?;
        if let Some(&found) = self.0.get(domain) {
            return found;
        }
        let found = domain_typo(domain);
        if self.0.len() < 10_000 {
            self.0.insert(domain.to_string(), found);
        }
        found
    }
}

fn domain_typo(domain: &str) -> Option<&'static str> {
    {
        const COMMON: &[&str] = &[
            "gmail.com",
            "googlemail.com",
            "yahoo.com",
            "hotmail.com",
            "outlook.com",
            "live.com",
            "icloud.com",
            "aol.com",
            "msn.com",
            "hotmail.co.uk",
            "yahoo.co.uk",
            "protonmail.com",
            "gmx.com",
            "gmx.de",
            "web.de",
        ];
        if COMMON.contains(&domain) {
            return None;
        }
        fn tld(d: &str) -> Option<&str> {
            d.rsplit('.').next()
        }
        COMMON
            .iter()
            .copied()
            // An edit distance is at least the difference in length: skip the far ones.
            .filter(|c| domain.len().abs_diff(c.len()) <= 2)
            .map(|c| (strsim::osa_distance(domain, c), c))
            .filter(|&(d, c)| d == 1 || (d == 2 && domain.len() > 6 && tld(domain) == tld(c)))
            .min_by_key(|&(d, _)| d)
            .map(|(_, c)| c)
    }
}

/// A phone number in E.164 form (`+447911123456`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses with a real numbering-plan library; national numbers use `default_country`
    /// (ISO 3166 alpha-2, e.g. "US", "GB").
    pub fn parse(raw: &str, default_country: Option<&str>) -> Result<PhoneNumber, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("the phone number is empty".into());
        }
        if looks_like_scientific_notation(s) {
            return Err(format!(
                "'{}' looks like a number a spreadsheet turned into scientific notation: format the column as text and re-export",
                clip(raw)
            ));
        }
        let country = default_country.and_then(region);
        let parsed = RlPhoneNumber::parse(s, country).map_err(|_| {
            if country.is_none() && !s.starts_with('+') {
                format!("'{}' has no country code: write it as +<country code> <number> or set the import's default country", clip(raw))
            } else {
                format!("'{}' is not a phone number", clip(raw))
            }
        })?;
        if !parsed.is_valid() {
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            let with_plus = format!("+{}", digits.trim_start_matches("00"));
            if !s.starts_with('+')
                && digits.len() >= 10
                && RlPhoneNumber::parse(&with_plus, None).is_ok_and(|p| p.is_valid())
            {
                return Err(format!(
                    "'{}' is not valid for the default country; it looks like an international number that lost its '+': write it as {with_plus}",
                    clip(raw)
                ));
            }
            return Err(format!(
                "'{}' is not a valid phone number for its country",
                clip(raw)
            ));
        }
        Ok(PhoneNumber(
            parsed.format_as(PhoneNumberFormat::E164).into_owned(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A country the numbering plans know, from its ISO 3166 alpha-2 code (any case).
pub fn region(code: &str) -> Option<Region> {
    let code = code.trim();
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let region = code.to_ascii_uppercase().parse::<Region>().ok()?;
    PHONE_NUMBER_UTIL
        .get_country_code_for_region(region)
        .is_some()
        .then_some(region)
}

fn looks_like_scientific_notation(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    match lower.split_once("e+") {
        Some((mantissa, exp)) => {
            !mantissa.is_empty()
                && mantissa
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
                && !exp.is_empty()
                && exp.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// A person's name, compared after Unicode NFKC, case folding and collapsing spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<PersonName, String> {
        let collapsed = if raw.is_ascii() {
            fold_ascii(raw)
        } else {
            fold_unicode(raw)
        };
        if collapsed.is_empty() {
            return Err("the name is empty".into());
        }
        if collapsed.chars().any(char::is_control) || collapsed.chars().count() > 200 {
            return Err(format!("'{}' is not a usable name", clip(raw)));
        }
        Ok(PersonName(collapsed))
    }

    /// "Last, First" (the header says the column is written that way).
    pub fn from_last_first(raw: &str) -> Result<PersonName, String> {
        match raw.split_once(',') {
            Some((last, first)) => PersonName::from_parts(first, last),
            None => PersonName::parse(raw),
        }
    }

    /// First and last name from separate columns.
    pub fn from_parts(first: &str, last: &str) -> Result<PersonName, String> {
        PersonName::parse(&format!("{} {}", first.trim(), last.trim()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// NFKC, lower case, and runs of whitespace as one space, trimmed.
fn fold_unicode(raw: &str) -> String {
    let folded: String = raw.nfkc().collect::<String>().to_lowercase();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// [`fold_unicode`] for ASCII text, in one pass and one allocation: NFKC leaves ASCII as
/// it is, and its lower case and whitespace are ASCII's own.
fn fold_ascii(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for word in raw
        .split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
    }
    out
}

/// The normalised value a row or a person is matched by, with its method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MatchKey {
    method: MatchMethod,
    /// Most keys are short enough to be kept inline: comparing keys in a lookup then
    /// needs no further memory access.
    value: compact_str::CompactString,
}

impl MatchKey {
    pub fn email(e: &Email) -> MatchKey {
        MatchKey {
            method: MatchMethod::Email,
            value: e.as_str().into(),
        }
    }
    pub fn phone(p: &PhoneNumber) -> MatchKey {
        MatchKey {
            method: MatchMethod::Phone,
            value: p.as_str().into(),
        }
    }
    pub fn name(n: &PersonName) -> MatchKey {
        MatchKey {
            method: MatchMethod::Name,
            value: n.as_str().into(),
        }
    }
    /// Employee IDs are compared exactly after trimming, with no case change: HR systems
    /// differ on whether "e12" and "E12" are the same person, so we do not guess.
    pub fn employee_id(raw: &str) -> Result<MatchKey, String> {
        let v = raw.trim();
        if v.is_empty() {
            return Err("the employee ID is empty".into());
        }
        if v.chars().count() > 64 || v.chars().any(char::is_control) {
            return Err(format!("'{}' is not a usable employee ID", clip(raw)));
        }
        Ok(MatchKey {
            method: MatchMethod::Hris,
            value: v.into(),
        })
    }

    /// Rebuilds a key from its stored parts (already normalised).
    pub fn from_stored(method: MatchMethod, value: &str) -> MatchKey {
        MatchKey {
            method,
            value: value.into(),
        }
    }

    pub fn method(&self) -> MatchMethod {
        self.method
    }
    pub fn value(&self) -> &str {
        &self.value
    }
}

pub(crate) fn clip(s: &str) -> String {
    clip_text(s, 60)
}

/// At most `max` characters of a value quoted in a message, with "…" when cut.
pub fn clip_text(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_compared_case_insensitively() {
        assert_eq!(
            Email::parse("  Ana.Lopez@Example.COM ").unwrap(),
            Email::parse("ana.lopez@example.com").unwrap()
        );
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a b@example.com",
            "ana@@example.com",
            "ana@example.c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn phones_become_e164_with_the_default_country() {
        let a = PhoneNumber::parse("(415) 555-2671", Some("US")).unwrap();
        let b = PhoneNumber::parse("+1 415 555 2671", None).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "+14155552671");
        assert_eq!(
            PhoneNumber::parse("07911 123456", Some("GB"))
                .unwrap()
                .as_str(),
            "+447911123456"
        );
    }

    #[test]
    fn national_phone_without_a_country_is_an_error_that_says_how_to_fix_it() {
        let err = PhoneNumber::parse("4155552671", None).unwrap_err();
        assert!(err.contains("country"), "{err}");
    }

    #[test]
    fn default_countries_are_iso_codes_the_numbering_plans_know() {
        assert!(region("GB").is_some() && region("gb").is_some() && region(" us ").is_some());
        // "UK" is not ISO 3166 (GB is); XX and ZZ are unassigned; "001" is the
        // non-geographic entity, not a country.
        for bad in ["UK", "XX", "ZZ", "EU", "001", "U", "USA", ""] {
            assert!(region(bad).is_none(), "{bad}");
        }
        assert_eq!(
            PhoneNumber::parse("07911 123456", Some("gb"))
                .unwrap()
                .as_str(),
            "+447911123456"
        );
    }

    #[test]
    fn phone_in_scientific_notation_gets_a_hint() {
        let err = PhoneNumber::parse("4.15555E+09", Some("US")).unwrap_err();
        assert!(err.contains("scientific"), "{err}");
    }

    #[test]
    fn invalid_phone_is_rejected() {
        assert!(PhoneNumber::parse("12", Some("US")).is_err());
        assert!(PhoneNumber::parse("not a phone", Some("US")).is_err());
    }

    #[test]
    fn names_are_normalised_for_comparison() {
        let a = PersonName::parse("  ANA   López ").unwrap();
        let b = PersonName::parse("ana lo\u{301}pez").unwrap();
        assert_eq!(a, b);
        assert_eq!(PersonName::from_parts("Ana", "López").unwrap(), a);
        assert!(PersonName::parse("   ").is_err());
        assert_eq!(
            PersonName::parse(" Ana\u{b}\tLEE\r\n").unwrap().as_str(),
            "ana lee"
        );
        assert!(
            PersonName::parse("ana\u{1}lee").is_err(),
            "a control character that is not whitespace is not a name"
        );
    }

    proptest::proptest! {
        /// The ASCII fast path folds every ASCII text exactly as the Unicode path does
        /// (control characters and every kind of ASCII whitespace included).
        #[test]
        fn ascii_names_fold_as_unicode_names_do(raw in "[\\x00-\\x7f]{0,40}") {
            proptest::prop_assert_eq!(fold_ascii(&raw), fold_unicode(&raw));
        }
    }

    #[test]
    fn likely_mail_domain_typos_are_spotted() {
        assert_eq!(
            Email::parse("ana@gmial.com").unwrap().domain_typo(),
            Some("gmail.com")
        );
        assert_eq!(
            Email::parse("ana@hotmal.com").unwrap().domain_typo(),
            Some("hotmail.com")
        );
        assert_eq!(Email::parse("ana@gmail.com").unwrap().domain_typo(), None);
        assert_eq!(Email::parse("ana@acme.com").unwrap().domain_typo(), None);
    }

    #[test]
    fn international_number_without_its_plus_gets_a_hint() {
        let err = PhoneNumber::parse("447911123456", Some("US")).unwrap_err();
        assert!(err.contains("+447911123456"), "{err}");
    }

    #[test]
    fn a_national_number_that_lost_its_leading_zero_still_matches() {
        // Spreadsheets drop the trunk 0 of numbers stored as numbers; the numbering plan
        // reads the national significant number the same way.
        assert_eq!(
            PhoneNumber::parse("15123456789", Some("DE")).unwrap(),
            PhoneNumber::parse("015123456789", Some("DE")).unwrap()
        );
        assert_eq!(
            PhoneNumber::parse("7911123456", Some("GB"))
                .unwrap()
                .as_str(),
            "+447911123456"
        );
    }

    #[test]
    fn extensions_do_not_change_the_number_matched() {
        assert_eq!(
            PhoneNumber::parse("415-555-2671 ext. 12", Some("US"))
                .unwrap()
                .as_str(),
            "+14155552671"
        );
    }

    #[test]
    fn last_comma_first_names_compare_equal_to_first_last() {
        assert_eq!(
            PersonName::from_last_first("López, Ana").unwrap(),
            PersonName::parse("Ana López").unwrap()
        );
    }

    #[test]
    fn employee_ids_are_exact_after_trimming() {
        assert_eq!(MatchKey::employee_id(" E-100 ").unwrap().value(), "E-100");
        assert_ne!(
            MatchKey::employee_id("e-100").unwrap(),
            MatchKey::employee_id("E-100").unwrap()
        );
        assert!(MatchKey::employee_id("").is_err());
    }
}
