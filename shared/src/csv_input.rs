//! Reading CSV bytes: sniffing what the file is, finding the columns by their headers,
//! and yielding each data row with its cells mapped to roles. Pure: it reads from any
//! `std::io::Read`, so the validator can stream an S3 object through it.

use crate::domain::{FileProblem, Issue, IssueCode, MatchMethod, RoleColumns, RowCells, RowInput};
use encoding_rs::{Encoding, MACINTOSH, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Chain, Cursor, Read};
use std::rc::Rc;

/// Rows above this count make the import fail with a clear message.
pub const MAX_ROWS: u64 = 1_000_000;
/// Largest upload accepted, in bytes.
pub const MAX_FILE_BYTES: u64 = 200 * 1024 * 1024;

const SNIFF_BYTES: usize = 64 * 1024;

/// The roles a column can play, each with the header spellings accepted for it
/// (compared after lower-casing and dropping everything but letters and digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Email,
    Phone,
    EmployeeId,
    FullName,
    FirstName,
    LastName,
    Training,
    CompletionDate,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Email,
        Role::Phone,
        Role::EmployeeId,
        Role::FullName,
        Role::FirstName,
        Role::LastName,
        Role::Training,
        Role::CompletionDate,
    ];

    pub fn from_canonical(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.canonical() == name)
    }

    pub fn canonical(self) -> &'static str {
        match self {
            Role::Email => "email",
            Role::Phone => "phone",
            Role::EmployeeId => "employee_id",
            Role::FullName => "full_name",
            Role::FirstName => "first_name",
            Role::LastName => "last_name",
            Role::Training => "training",
            Role::CompletionDate => "completion_date",
        }
    }

    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Role::Email => &["email", "emailaddress", "mail", "workemail", "emailid"],
            Role::Phone => &[
                "phone",
                "phonenumber",
                "mobile",
                "mobilenumber",
                "mobilephone",
                "cell",
                "cellphone",
                "telephone",
                "tel",
            ],
            Role::EmployeeId => &[
                "employeeid",
                "employee",
                "employeeno",
                "employeenumber",
                "empid",
                "empno",
                "hrisid",
                "staffid",
                "workerid",
                "personnelnumber",
            ],
            Role::FullName => &[
                "fullname",
                "name",
                "employeename",
                "learner",
                "learnername",
                "person",
                "lastfirst",
                "lastnamefirstname",
                "surnamefirstname",
                "namelastfirst",
                "namelastnamefirstname",
                "employeenamelastfirst",
            ],
            Role::FirstName => &["firstname", "givenname", "first", "forename"],
            Role::LastName => &["lastname", "surname", "familyname", "last"],
            Role::Training => &[
                "training",
                "trainingid",
                "trainingname",
                "trainingtitle",
                "course",
                "courseid",
                "coursename",
                "coursetitle",
            ],
            Role::CompletionDate => &[
                "completiondate",
                "datecompleted",
                "completedon",
                "completed",
                "completedate",
                "completedat",
                "date",
            ],
        }
    }
}

pub fn header_key(h: &str) -> String {
    h.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Header names the admin gave for roles (`{"email": "Correo"}`), by canonical role name.
pub type ColumnMapping = std::collections::BTreeMap<String, String>;

/// Checks a column mapping's role names.
pub fn check_mapping(mapping: &ColumnMapping) -> Result<(), String> {
    for role in mapping.keys() {
        if Role::from_canonical(role).is_none() {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.canonical()).collect();
            return Err(format!(
                "columns: '{role}' is not one of {}",
                names.join(", ")
            ));
        }
    }
    Ok(())
}

/// Which column plays which role, decided once from the header row.
#[derive(Clone, Debug)]
pub struct CsvLayout {
    pub headers: Vec<String>,
    person: Vec<usize>,
    last_first: bool,
    training: usize,
    date: usize,
    pub ignored_columns: Vec<String>,
}

fn find_in(
    headers: &[String],
    role: Role,
    mapping: &ColumnMapping,
) -> Result<Option<usize>, FileProblem> {
    let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
    if let Some(given) = mapping.get(role.canonical()) {
        return match keys.iter().position(|k| *k == header_key(given)) {
            Some(i) => Ok(Some(i)),
            None => Err(FileProblem::new(
                "MISSING_COLUMN",
                format!(
                    "the column mapping names '{}' for {}, but the header row has no such column; it has: {}",
                    crate::domain::clip_text(given, 40),
                    role.canonical(),
                    header_list(headers)
                ),
            )),
        };
    }
    Ok(role
        .aliases()
        .iter()
        .find_map(|alias| keys.iter().position(|k| k == alias)))
}

/// The roles whose column the headers alone name (by the aliases), role -> header: what a
/// file's columns would be taken as without a mapping.
pub fn detected_columns(headers: &[String]) -> std::collections::BTreeMap<String, String> {
    let none = ColumnMapping::new();
    Role::ALL
        .iter()
        .filter_map(|role| match find_in(headers, *role, &none) {
            Ok(Some(i)) => Some((role.canonical().to_string(), headers[i].clone())),
            _ => None,
        })
        .collect()
}

/// The header row as a message shows it: each name clipped, at most 20 of them.
fn header_list(headers: &[String]) -> String {
    let mut shown: Vec<String> = headers
        .iter()
        .take(20)
        .map(|h| format!("'{}'", crate::domain::clip_text(h, 40)))
        .collect();
    if headers.len() > 20 {
        shown.push(format!("and {} more", headers.len() - 20));
    }
    shown.join(", ")
}

fn missing_column(roles: &[Role], headers: &[String]) -> FileProblem {
    let wanted: Vec<String> = roles
        .iter()
        .map(|r| {
            format!(
                "'{}' (also accepted: {})",
                r.canonical(),
                r.aliases().join(", ")
            )
        })
        .collect();
    FileProblem::new(
        "MISSING_COLUMN",
        format!(
            "the file has no {} column. Its header row is: {}. Add the column, or rename one to the accepted name.",
            wanted.join(" or "),
            header_list(headers)
        ),
    )
}

impl CsvLayout {
    pub fn from_headers(
        headers: Vec<String>,
        method: MatchMethod,
        mapping: &ColumnMapping,
    ) -> Result<CsvLayout, FileProblem> {
        let find = |role: Role| find_in(&headers, role, mapping);
        let need = |role: Role| find(role)?.ok_or_else(|| missing_column(&[role], &headers));
        let person = match method {
            MatchMethod::Email => vec![need(Role::Email)?],
            MatchMethod::Phone => vec![need(Role::Phone)?],
            MatchMethod::Hris => vec![need(Role::EmployeeId)?],
            MatchMethod::Name => match (
                find(Role::FirstName)?,
                find(Role::LastName)?,
                find(Role::FullName)?,
            ) {
                (Some(f), Some(l), _) => vec![f, l],
                (_, _, Some(full)) => vec![full],
                _ => {
                    return Err(missing_column(
                        &[Role::FullName, Role::FirstName, Role::LastName],
                        &headers,
                    ))
                }
            },
        };
        let last_first = method == MatchMethod::Name && person.len() == 1 && {
            let k = header_key(&headers[person[0]]);
            k.contains("lastfirst")
                || k.contains("lastnamefirstname")
                || k.contains("surnamefirstname")
        };
        let training = need(Role::Training)?;
        let date = need(Role::CompletionDate)?;
        let used: Vec<usize> = person.iter().copied().chain([training, date]).collect();
        let ignored_columns = headers
            .iter()
            .enumerate()
            .filter(|(i, h)| !used.contains(i) && !h.trim().is_empty())
            .map(|(_, h)| h.clone())
            .collect();
        Ok(CsvLayout {
            headers,
            person,
            last_first,
            training,
            date,
            ignored_columns,
        })
    }

    pub fn date_index(&self) -> usize {
        self.date
    }

    /// The cells of a row by role, borrowed, for [`crate::domain::FileChecker`].
    pub fn roles<'a>(&self, cell: impl Fn(usize) -> &'a str) -> RowCells<'a> {
        let second = self.person.get(1).map_or("", |&i| unguard(cell(i)));
        RowCells {
            person: [unguard(cell(self.person[0])), second],
            person_count: self.person.len(),
            training: unguard(cell(self.training)),
            date: unguard(cell(self.date)),
        }
    }

    /// The columns whose cells play a role, for messages.
    pub fn role_columns(&self) -> RoleColumns {
        RoleColumns {
            person: self
                .person
                .iter()
                .map(|&i| self.headers[i].clone())
                .collect(),
            last_first: self.last_first,
            training: self.headers[self.training].clone(),
            date: self.headers[self.date].clone(),
        }
    }

    /// The cells of a row by role. A leading apostrophe that guards a formula character
    /// (our error report writes "'+44...") is dropped, so a fixed report reads back.
    pub fn input(&self, cells: &[String]) -> RowInput {
        let cell = |i: usize| {
            (
                self.headers[i].clone(),
                unguard(cells.get(i).map(String::as_str).unwrap_or_default()).to_string(),
            )
        };
        RowInput {
            last_first: self.last_first,
            person: self.person.iter().map(|&i| cell(i)).collect(),
            training: Some(cell(self.training)),
            date: Some(cell(self.date)),
        }
    }
}

/// Characters that make a spreadsheet treat a cell as a formula.
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

/// One data row as read: its line in the file, its original cells, and the cells by role.
#[derive(Clone, Debug)]
pub struct RawRow {
    /// 1-based line number of the row's first line (the header is line 1).
    pub line: u64,
    pub cells: Vec<String>,
    pub input: RowInput,
    /// A structural problem (wrong number of fields, bytes that are not text).
    pub problem: Option<Issue>,
}

/// One data row borrowed from the reader ([`CsvRows::next_record`]).
#[derive(Clone, Debug)]
pub struct Record<'r> {
    /// 1-based line number of the row's first line (the header is line 1).
    pub line: u64,
    pub layout: &'r CsvLayout,
    /// The record's bytes as text, when every cell is UTF-8 text.
    text: Option<&'r str>,
    bytes: &'r csv::ByteRecord,
    /// A structural problem (wrong number of fields, bytes that are not text).
    pub problem: Option<Issue>,
}

impl<'r> Record<'r> {
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A cell of a text record, sliced from the record's text (no check per cell).
    fn cell_text(&self, text: &'r str, i: usize) -> &'r str {
        self.bytes
            .range(i)
            .and_then(|r| text.get(r))
            .unwrap_or_default()
    }

    fn is_blank(&self, i: usize) -> bool {
        match self.text {
            Some(text) => self.cell_text(text, i).trim().is_empty(),
            None => String::from_utf8_lossy(self.bytes.get(i).unwrap_or_default())
                .trim()
                .is_empty(),
        }
    }

    /// Every cell as written, owned (bytes that are not UTF-8 shown as U+FFFD).
    pub fn cells(&self) -> Vec<String> {
        match self.text {
            Some(text) => (0..self.len())
                .map(|i| self.cell_text(text, i).to_string())
                .collect(),
            None => self
                .bytes
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect(),
        }
    }

    /// The cells that play a role, borrowed; `None` for a row with a problem.
    pub fn roles(&self) -> Option<RowCells<'r>> {
        let text = self.text.filter(|_| self.problem.is_none())?;
        Some(self.layout.roles(|i| self.cell_text(text, i)))
    }
}

const RECORD_TOO_LONG: &str = "record too long";

type Sniffed<R> = LineTracker<Decoded<Chain<Cursor<Vec<u8>>, R>>>;

/// Counts line breaks as bytes pass to the CSV parser, so each record gets the line a
/// spreadsheet user sees (the csv crate's own count is off after blank lines and CRLF).
pub struct LineTracker<R> {
    inner: R,
    state: Rc<RefCell<LineState>>,
}

#[derive(Default)]
struct LineState {
    offset: u64,
    /// Offsets of '\n' bytes not yet pruned, and how many were pruned before them.
    newlines: VecDeque<u64>,
    pruned: u64,
    /// Runs of '\r'/'\n' bytes as (start, end): a record never starts inside one.
    runs: VecDeque<(u64, u64)>,
    run_start: Option<u64>,
    /// The offset just after the last line-break byte of the open run.
    run_end: u64,
    after_cr: bool,
    /// Bytes read since the parser started its current record.
    since_record: u64,
}

/// One row may be at most this long; a bigger one (a runaway quote, a pasted blob) stops
/// the file before it can exhaust memory. It also keeps a stored row well inside
/// DynamoDB's 400 KB item limit.
pub const MAX_RECORD_BYTES: u64 = 64 * 1024;
/// Columns a file may have.
pub const MAX_COLUMNS: usize = 1000;

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut guard = self.state.borrow_mut();
        let st = &mut *guard;
        st.since_record += n as u64;
        // The parser reads ahead by up to one buffer (8 KB) beyond the record it is on.
        if st.since_record > MAX_RECORD_BYTES + 16 * 1024 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                RECORD_TOO_LONG,
            ));
        }
        // Only the line-break bytes matter: find them with memchr rather than byte by byte.
        let base = st.offset;
        for i in memchr::memchr2_iter(b'\n', b'\r', &buf[..n]) {
            let at = base + i as u64;
            if let Some(start) = st.run_start {
                if st.run_end != at {
                    // A byte that is not a line break ended the run at `run_end`.
                    st.runs.push_back((start, st.run_end));
                    st.run_start = None;
                    st.after_cr = false;
                }
            }
            let b = buf[i];
            // A line ends at "\n", at "\r\n" (counted once) and at a lone "\r".
            if b == b'\r' || !st.after_cr {
                st.newlines.push_back(at);
            }
            st.after_cr = b == b'\r';
            if st.run_start.is_none() {
                st.run_start = Some(at);
            }
            st.run_end = at + 1;
        }
        st.offset = base + n as u64;
        if let Some(start) = st.run_start {
            if n > 0 && st.run_end != st.offset {
                st.runs.push_back((start, st.run_end));
                st.run_start = None;
                st.after_cr = false;
            }
        }
        Ok(n)
    }
}

impl LineState {
    /// The 1-based line of a record the parser says starts at byte `from`.
    fn line_of(&mut self, from: u64) -> u64 {
        while self.runs.front().is_some_and(|&(_, end)| end <= from) {
            self.runs.pop_front();
        }
        let start = match self.runs.front() {
            Some(&(s, e)) if s <= from => e,
            _ => from,
        };
        while self.newlines.front().is_some_and(|&o| o < start) {
            self.newlines.pop_front();
            self.pruned += 1;
        }
        self.pruned + 1
    }
}

/// How a delimiter is shown: `,`, `;` or `tab`.
pub fn delimiter_name(delimiter: u8) -> &'static str {
    match delimiter {
        b'\t' => "tab",
        b';' => ";",
        _ => ",",
    }
}

/// The start of a file as an admin would look at it to map its columns: the header row,
/// the first data rows (each cell cut to 60 characters), and how it was read.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Preview {
    pub headers: Vec<String>,
    pub samples: Vec<Vec<String>>,
    pub encoding: &'static str,
    pub delimiter: &'static str,
}

/// Reads the header row and up to `rows` data rows (blank lines skipped), whatever the
/// columns are: nothing here needs a column to be found.
pub fn preview<R: Read>(source: R, rows: usize) -> Result<Preview, FileProblem> {
    let (bytes, delimiter, encoding) = sniff(source)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(bytes);
    let cell = |c: &[u8]| clip_cell(String::from_utf8_lossy(c).trim());
    let headers: Vec<String> = reader
        .byte_headers()
        .map_err(|e| read_problem(e, 1))?
        .iter()
        .take(MAX_COLUMNS)
        .map(cell)
        .collect();
    let mut samples = vec![];
    let mut record = csv::ByteRecord::new();
    while samples.len() < rows {
        match reader.read_byte_record(&mut record) {
            Ok(true) if record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) => {}
            Ok(true) => samples.push(record.iter().take(headers.len()).map(cell).collect()),
            // A row past the sample that cannot be read is the validation's to report.
            Ok(false) | Err(_) => break,
        }
    }
    Ok(Preview {
        headers,
        samples,
        encoding: encoding.name(),
        delimiter: delimiter_name(delimiter),
    })
}

fn clip_cell(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A streaming reader of one CSV file.
pub struct CsvRows<R: Read> {
    reader: csv::Reader<Sniffed<R>>,
    pub layout: CsvLayout,
    record: csv::ByteRecord,
    rows: u64,
    lines: Rc<RefCell<LineState>>,
    /// The text encoding the file was read in (its WHATWG name: `UTF-8`, `UTF-16LE`,
    /// `windows-1252`, `windows-1250`, `macintosh`...).
    pub encoding: &'static str,
    /// The delimiter picked from the header line.
    pub delimiter: u8,
}

/// Looks at the first bytes: refuses what is not text, drops a UTF-8 byte order mark and
/// picks the delimiter (comma, semicolon or tab) from the header line.
fn sniff<R: Read>(mut source: R) -> Result<(Sniffed<R>, u8, &'static Encoding), FileProblem> {
    let mut head = vec![0u8; SNIFF_BYTES];
    let mut filled = 0;
    while filled < head.len() {
        let n = source.read(&mut head[filled..]).map_err(|e| {
            FileProblem::new(
                FileProblem::READ_FAILED,
                format!("the file could not be read: {e}"),
            )
        })?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    if head.starts_with(b"PK\x03\x04") {
        return Err(FileProblem::new("NOT_A_CSV", "this is an Excel workbook (.xlsx) or another zip file, not a CSV. In Excel use File > Save As > 'CSV UTF-8 (Comma delimited)' and upload that file."));
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(FileProblem::new("NOT_A_CSV", "this is an old Excel workbook (.xls), not a CSV. In Excel use File > Save As > 'CSV UTF-8 (Comma delimited)' and upload that file."));
    }
    if head.starts_with(b"%PDF") {
        return Err(FileProblem::new("NOT_A_CSV", "this is a PDF, not a CSV. Export the data from its source as CSV and upload that file."));
    }
    let complete = filled < SNIFF_BYTES;
    let (encoding, bom) = detect_encoding(&head, complete)?;
    head.drain(..bom);
    let text = encoding
        .decode_without_bom_handling(&head[..head.len().min(8192)])
        .0;
    if text.trim().is_empty() {
        return Err(FileProblem::new(
            "EMPTY_FILE",
            "the file is empty. It needs a header row and at least one data row.",
        ));
    }
    let first_line = text.split(['\n', '\r']).next().unwrap_or("");
    let delimiter = pick_delimiter(first_line.as_bytes());
    let decoder = (encoding != UTF_8).then(|| encoding.new_decoder_without_bom_handling());
    let decoded = Decoded {
        inner: Cursor::new(head).chain(source),
        decoder,
        raw: vec![0; 16 * 1024],
        out: Vec::new(),
        out_pos: 0,
        eof: false,
    };
    let tracker = LineTracker {
        inner: decoded,
        state: Rc::default(),
    };
    Ok((tracker, delimiter, encoding))
}

/// What the first bytes say the text encoding is, and how long the byte order mark is:
/// a byte order mark, then UTF-16 without one, then UTF-8; text that is not valid UTF-8
/// is in a legacy encoding ([`legacy_encoding`]). `complete`: the bytes are the whole file.
fn detect_encoding(head: &[u8], complete: bool) -> Result<(&'static Encoding, usize), FileProblem> {
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Ok((UTF_8, 3));
    }
    if head.starts_with(&[0xFF, 0xFE]) {
        return Ok((UTF_16LE, 2));
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return Ok((UTF_16BE, 2));
    }
    let sample = &head[..head.len().min(8192)];
    if sample.contains(&0) {
        // UTF-16 without a byte order mark: ASCII text leaves every other byte zero.
        let zeros_at = |parity: usize| {
            sample
                .iter()
                .skip(parity)
                .step_by(2)
                .filter(|&&b| b == 0)
                .count()
        };
        let half = sample.len() / 2;
        if half > 0 && zeros_at(1) * 10 > half * 4 && zeros_at(0) * 20 < half {
            return Ok((UTF_16LE, 0));
        }
        if half > 0 && zeros_at(0) * 10 > half * 4 && zeros_at(1) * 20 < half {
            return Ok((UTF_16BE, 0));
        }
        return Err(FileProblem::new("NOT_A_CSV", "this file contains binary data (it looks like an image, a PDF or a spreadsheet), not CSV text. Export the sheet as CSV and upload that file."));
    }
    match std::str::from_utf8(head) {
        Ok(_) => Ok((UTF_8, 0)),
        // Cut in the middle of a character at the end of the sample: still UTF-8.
        Err(e) if e.error_len().is_none() => Ok((UTF_8, 0)),
        Err(_) => Ok((legacy_encoding(head, complete), 0)),
    }
}

/// The legacy encoding of text that is not UTF-8 (what Excel's plain "CSV" writes in the
/// system's code page: Windows-1252 in Western Europe and the Americas, -1250 in Central
/// Europe, -1251 for Cyrillic...), guessed by chardetng, Firefox's detector, from the first
/// 64 KB. chardetng leaves out Mac Roman (not a web encoding), which old Mac Excel wrote:
/// a file it reads in a Latin single-byte encoding is read as Mac Roman instead when that
/// makes more of its non-ASCII characters letters inside words ([`letters_score`]).
fn legacy_encoding(sample: &[u8], complete: bool) -> &'static Encoding {
    // ISO-2022-JP is for email; UTF-8 was ruled out before.
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(sample, complete);
    let guess = detector.guess(None, chardetng::Utf8Detection::Deny);
    let latin = guess == WINDOWS_1252
        || [
            "windows-1250",
            "windows-1254",
            "windows-1257",
            "ISO-8859-2",
            "ISO-8859-15",
        ]
        .contains(&guess.name());
    if latin && letters_score(sample, MACINTOSH) > letters_score(sample, guess) {
        return MACINTOSH;
    }
    guess
}

/// How much the sample's non-ASCII characters read as text in `encoding`: +1 for a letter
/// inside a word (a letter beside it, and not a capital right after a small letter), -1
/// for anything else (a symbol, a control character, a capital inside a word).
fn letters_score(sample: &[u8], encoding: &'static Encoding) -> i64 {
    let (text, _) = encoding.decode_without_bom_handling(sample);
    let chars: Vec<char> = text.chars().collect();
    let mut score = 0;
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii() {
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let in_word =
            prev.is_some_and(char::is_alphabetic) || next.is_some_and(char::is_alphabetic);
        let capital_inside = c.is_uppercase() && prev.is_some_and(char::is_lowercase);
        score += if c.is_alphabetic() && in_word && !capital_inside {
            1
        } else {
            -1
        };
    }
    score
}

/// Turns text in another encoding into UTF-8 as it streams; UTF-8 passes through.
pub struct Decoded<R> {
    inner: R,
    decoder: Option<encoding_rs::Decoder>,
    raw: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(decoder) = self.decoder.as_mut() else {
            return self.inner.read(buf);
        };
        loop {
            if self.out_pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.out_pos);
                buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            if self.eof {
                return Ok(0);
            }
            let n = self.inner.read(&mut self.raw)?;
            let last = n == 0;
            self.eof = last;
            let capacity = decoder.max_utf8_buffer_length(n).unwrap_or(n * 3 + 16);
            self.out.clear();
            self.out.resize(capacity, 0);
            let (_, _, written, _) = decoder.decode_to_utf8(&self.raw[..n], &mut self.out, last);
            self.out.truncate(written);
            self.out_pos = 0;
        }
    }
}

fn pick_delimiter(header_line: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut in_quotes = false;
    for &b in header_line {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            for c in counts.iter_mut() {
                if c.0 == b {
                    c.1 += 1;
                }
            }
        }
    }
    counts
        .iter()
        .max_by_key(|c| c.1)
        .filter(|c| c.1 > 0)
        .map(|c| c.0)
        .unwrap_or(b',')
}

impl<R: Read> CsvRows<R> {
    pub fn open(source: R, method: MatchMethod) -> Result<CsvRows<R>, FileProblem> {
        CsvRows::open_with(source, method, &ColumnMapping::new())
    }

    pub fn open_with(
        source: R,
        method: MatchMethod,
        mapping: &ColumnMapping,
    ) -> Result<CsvRows<R>, FileProblem> {
        let (bytes, delimiter, encoding) = sniff(source)?;
        let lines = bytes.state.clone();
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(bytes);
        let headers = reader
            .byte_headers()
            .map_err(|e| read_problem(e, 1))?
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().to_string())
            .collect::<Vec<_>>();
        if headers.len() > MAX_COLUMNS {
            return Err(FileProblem::new(
                "TOO_MANY_COLUMNS",
                format!("the header row has {} columns; at most {MAX_COLUMNS} are accepted. Keep the columns the import needs and upload again.", headers.len()),
            ));
        }
        let layout = CsvLayout::from_headers(headers, method, mapping)?;
        Ok(CsvRows {
            reader,
            layout,
            record: csv::ByteRecord::new(),
            rows: 0,
            lines,
            encoding: encoding.name(),
            delimiter,
        })
    }

    /// The next non-blank data row, owned, `Ok(None)` at the end.
    pub fn next_row(&mut self) -> Result<Option<RawRow>, FileProblem> {
        let Some(record) = self.next_record()? else {
            return Ok(None);
        };
        let cells = record.cells();
        let input = record.layout.input(&cells);
        Ok(Some(RawRow {
            line: record.line,
            cells,
            input,
            problem: record.problem,
        }))
    }

    /// The next non-blank data row, borrowed from the reader until the next call: no
    /// cell is copied. `Ok(None)` at the end.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, FileProblem> {
        loop {
            self.lines.borrow_mut().since_record = 0;
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| self.read_problem(e))?;
            if !more {
                return Ok(None);
            }
            if self
                .record
                .iter()
                .all(|c| c.iter().all(u8::is_ascii_whitespace))
            {
                continue;
            }
            self.rows += 1;
            if self.rows > MAX_ROWS {
                return Err(too_many_rows());
            }
            let from = self.record.position().map(|p| p.byte()).unwrap_or(0);
            let line = self.lines.borrow_mut().line_of(from);
            let text = record_text(&self.record);
            let problem = text.is_none().then(|| Issue::new(IssueCode::InvalidEncoding, None, "this row has bytes that are not UTF-8 text: save the file as 'CSV UTF-8' and upload it again"));
            let record = Record {
                line,
                layout: &self.layout,
                text,
                bytes: &self.record,
                problem,
            };
            let expected = self.layout.headers.len();
            // Trailing empty cells are ignored; extra filled cells or missing required
            // cells mean the row does not line up with the header.
            let len = record.len();
            // Only cells past the header's can be extra; most rows have none.
            let filled_len = if len > expected {
                (0..len)
                    .rev()
                    .find(|&i| !record.is_blank(i))
                    .map_or(0, |i| i + 1)
            } else {
                len
            };
            let needed_missing = self
                .layout
                .person
                .iter()
                .chain([&self.layout.training, &self.layout.date])
                .any(|&i| i >= len);
            let problem = match record.problem {
                None if filled_len > expected || needed_missing => Some(Issue::new(
                    IssueCode::WrongFieldCount,
                    None,
                    format!(
                        "this row has {} cells but the header has {expected}: look for a stray delimiter or an unclosed quote",
                        if filled_len > expected { filled_len } else { len }
                    ),
                )),
                other => other,
            };
            return Ok(Some(Record { problem, ..record }));
        }
    }

    fn read_problem(&self, e: csv::Error) -> FileProblem {
        read_problem(e, self.lines.borrow().pruned + 1)
    }
}

/// A record's bytes as text when every cell is UTF-8 text: the whole buffer checked at
/// once, then that no cell starts inside a character (so each cell is a slice of it).
fn record_text(record: &csv::ByteRecord) -> Option<&str> {
    let text = std::str::from_utf8(record.as_slice()).ok()?;
    (0..record.len())
        .all(|i| {
            record
                .range(i)
                .is_some_and(|r| text.is_char_boundary(r.start))
        })
        .then_some(text)
}

/// A read error as a file problem. A row too long is the file's; any other error comes
/// from reading the object (the CSV parser itself accepts any bytes), so it is
/// transient ([`FileProblem::READ_FAILED`]): the read is tried again.
fn read_problem(e: csv::Error, line: u64) -> FileProblem {
    match e.kind() {
        csv::ErrorKind::Io(io) if io.to_string() == RECORD_TOO_LONG => FileProblem::new(
            "ROW_TOO_LONG",
            format!("a row starting near line {line} is longer than {} KB: look for a quote that is never closed, or a cell holding a whole document", MAX_RECORD_BYTES / 1024),
        ),
        csv::ErrorKind::Io(io) => FileProblem::new(FileProblem::READ_FAILED, format!("the file could not be read past line {line}: {io}")),
        _ => FileProblem::new("NOT_A_CSV", format!("the file stops being readable CSV near line {line}: {e}")),
    }
}

/// Reads the whole file once without keeping it: finds every file-level problem (so a
/// file that fails, fails before any row is written) and hands over the date cells, for
/// deciding the file's day/month order. Returns the number of data rows.
pub fn date_cells<R: Read>(
    source: R,
    method: MatchMethod,
    mapping: &ColumnMapping,
    mut each: impl FnMut(&str),
) -> Result<u64, FileProblem> {
    let mut rows = CsvRows::open_with(source, method, mapping)?;
    let idx = rows.layout.date_index();
    let mut record = csv::ByteRecord::new();
    let mut count = 0u64;
    loop {
        rows.lines.borrow_mut().since_record = 0;
        let more = rows
            .reader
            .read_byte_record(&mut record)
            .map_err(|e| rows.read_problem(e))?;
        if !more {
            return Ok(count);
        }
        if record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        count += 1;
        if count > MAX_ROWS {
            return Err(too_many_rows());
        }
        if let Some(Ok(s)) = record.get(idx).map(std::str::from_utf8) {
            each(s);
        }
    }
}

fn too_many_rows() -> FileProblem {
    FileProblem::new("TOO_MANY_ROWS", format!("the file has more than {MAX_ROWS} data rows. Split it into files of at most {MAX_ROWS} rows."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &[u8], method: MatchMethod) -> Result<Vec<RawRow>, FileProblem> {
        let mut rows = CsvRows::open(text, method)?;
        let mut out = vec![];
        while let Some(r) = rows.next_row()? {
            out.push(r);
        }
        Ok(out)
    }

    #[test]
    fn headers_are_matched_ignoring_case_spaces_and_punctuation() {
        let rows = read_all(
            b"E-mail Address,Course,Date Completed,Notes\nana@example.com,Forklift,2024-01-02,x\n",
            MatchMethod::Email,
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].input.person[0].1, "ana@example.com");
        assert_eq!(rows[0].input.training.as_ref().unwrap().1, "Forklift");
        assert_eq!(rows[0].line, 2);
    }

    #[test]
    fn missing_required_column_names_it_and_the_accepted_names() {
        let err = read_all(
            b"email,date\nana@example.com,2024-01-02\n",
            MatchMethod::Email,
        )
        .unwrap_err();
        assert_eq!(err.code, "MISSING_COLUMN");
        assert!(
            err.message.contains("'training'") && err.message.contains("course"),
            "{}",
            err.message
        );
    }

    #[test]
    fn semicolon_and_tab_files_are_detected() {
        let rows = read_all(b"\xEF\xBB\xBFemail;training;completion date\r\nana@example.com;\"Fork; lift\";2024-01-02\r\n", MatchMethod::Email).unwrap();
        assert_eq!(rows[0].input.training.as_ref().unwrap().1, "Fork; lift");
        let rows = read_all(
            b"employee id\ttraining\tdate\nE1\tForklift\t2024-01-02\n",
            MatchMethod::Hris,
        )
        .unwrap();
        assert_eq!(rows[0].input.person[0].1, "E1");
    }

    #[test]
    fn blank_lines_are_ignored_and_line_numbers_kept() {
        let rows = read_all(b"email,training,date\n\nana@example.com,F,2024-01-02\n,,\nbo@example.com,F,2024-01-02\n", MatchMethod::Email).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 3);
        assert_eq!(rows[1].line, 5);
    }

    #[test]
    fn line_numbers_survive_crlf_and_line_breaks_inside_quotes() {
        let rows = read_all(b"email,training,date\r\n\r\nana@example.com,\"Fork\r\nlift\",2024-01-02\r\nbo@example.com,F,2024-01-02", MatchMethod::Email).unwrap();
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![3, 5]);
    }

    #[test]
    fn a_row_with_too_many_fields_is_a_row_error_not_a_file_error() {
        let rows = read_all(b"email,training,date\nana@example.com,F,2024-01-02,extra\nbo@example.com,F,2024-01-02\n", MatchMethod::Email).unwrap();
        assert_eq!(
            rows[0].problem.as_ref().unwrap().code,
            IssueCode::WrongFieldCount
        );
        assert!(rows[1].problem.is_none());
    }

    #[test]
    fn first_and_last_name_columns_are_used_for_name_matching() {
        let rows = read_all(
            b"First Name,Last Name,Training,Date\nAna,Lopez,F,2024-01-02\n",
            MatchMethod::Name,
        )
        .unwrap();
        assert_eq!(rows[0].input.person.len(), 2);
    }

    fn utf16(text: &str, little_endian: bool, bom: bool) -> Vec<u8> {
        let mut out = vec![];
        if bom {
            out.extend(if little_endian {
                [0xFF, 0xFE]
            } else {
                [0xFE, 0xFF]
            });
        }
        for unit in text.encode_utf16() {
            out.extend(if little_endian {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            });
        }
        out
    }

    #[test]
    fn utf16_files_from_excel_unicode_text_are_read() {
        let text = "Email\tCourse\tDate\r\nzoë@example.com\tFörklift\t2024-01-02\r\n";
        for (le, bom) in [(true, true), (false, true), (true, false)] {
            let rows = read_all(&utf16(text, le, bom), MatchMethod::Email).unwrap();
            assert_eq!(rows.len(), 1, "le={le} bom={bom}");
            assert_eq!(rows[0].input.person[0].1, "zoë@example.com");
            assert_eq!(rows[0].input.training.as_ref().unwrap().1, "Förklift");
        }
    }

    #[test]
    fn windows_1252_files_from_legacy_excel_are_read() {
        let bytes = b"Name,Training,Date\nJos\xe9 Mu\xf1oz,Forklift,2024-01-02\n";
        let rows = read_all(bytes, MatchMethod::Name).unwrap();
        assert_eq!(rows[0].input.person[0].1, "José Muñoz");
        assert!(rows[0].problem.is_none());
    }

    #[test]
    fn a_huge_field_stops_the_file_with_a_clear_problem_and_bounded_memory() {
        let mut bytes = b"email,training,date\na@example.com,\"".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 300 * 1024));
        let err = read_all(&bytes, MatchMethod::Email).unwrap_err();
        assert_eq!(err.code, "ROW_TOO_LONG");
    }

    #[test]
    fn an_explicit_column_mapping_wins_over_aliases() {
        let mapping = ColumnMapping::from([
            ("email".to_string(), "Correo".to_string()),
            ("training".to_string(), "Curso".to_string()),
        ]);
        let mut rows = CsvRows::open_with(
            &b"Correo,Curso,Fecha,Date\nana@example.com,F,x,2024-01-02\n"[..],
            MatchMethod::Email,
            &mapping,
        )
        .unwrap();
        let row = rows.next_row().unwrap().unwrap();
        assert_eq!(row.input.person[0].1, "ana@example.com");
        let err = CsvRows::open_with(&b"Email,Training,Date\n"[..], MatchMethod::Email, &mapping)
            .err()
            .unwrap();
        assert!(err.message.contains("'Correo'"), "{}", err.message);
    }

    #[test]
    fn last_comma_first_header_is_recognised() {
        let mut rows = CsvRows::open(
            &b"\"Name (Last, First)\",Training,Date\n\"Lopez, Ana\",F,2024-01-02\n"[..],
            MatchMethod::Name,
        )
        .unwrap();
        assert!(rows.next_row().unwrap().unwrap().input.last_first);
    }

    #[test]
    fn a_guarded_cell_from_an_error_report_reads_back_as_its_value() {
        let rows = read_all(
            b"phone,training,date\n'+1 415 555 2671,F,2024-01-02\n",
            MatchMethod::Phone,
        )
        .unwrap();
        assert_eq!(rows[0].input.person[0].1, "+1 415 555 2671");
        assert_eq!(rows[0].cells[0], "'+1 415 555 2671");
    }

    #[test]
    fn a_character_split_across_two_cells_is_not_text() {
        // "\xC3" and "\xA9" side by side make "é", but neither cell is text alone. Past
        // the bytes looked at first, so the file is read as UTF-8.
        let mut csv = b"email,training,date\n".to_vec();
        let good = 3000;
        for _ in 0..good {
            csv.extend_from_slice(b"ok@example.com,F,2024-01-02\n");
        }
        assert!(csv.len() > SNIFF_BYTES);
        csv.extend_from_slice(b"\xC3,\xA9,2024-01-02\n");
        let mut rows = CsvRows::open(&csv[..], MatchMethod::Email).unwrap();
        assert_eq!(rows.encoding, "UTF-8");
        for _ in 0..good {
            let first = rows.next_record().unwrap().unwrap();
            assert!(
                first.problem.is_none()
                    && first
                        .roles()
                        .is_some_and(|c| c.person[0] == "ok@example.com")
            );
        }
        let split = rows.next_record().unwrap().unwrap();
        assert_eq!(
            split.problem.as_ref().map(|p| p.code),
            Some(IssueCode::InvalidEncoding)
        );
        assert!(split.roles().is_none());
        assert_eq!(split.cells(), vec!["\u{FFFD}", "\u{FFFD}", "2024-01-02"]);
    }

    /// Bytes, then the connection drops.
    struct Dropping(std::io::Cursor<Vec<u8>>);

    impl Read for Dropping {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(512);
            match self.0.read(&mut buf[..n])? {
                0 => Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection reset by peer",
                )),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn a_read_that_fails_part_way_is_transient_not_a_broken_file() {
        let mut csv = b"email,training,date\n".to_vec();
        for i in 0..10_000 {
            csv.extend_from_slice(format!("p{i}@example.com,F,2024-01-02\n").as_bytes());
        }
        // Well past what the reader looks at before its first row.
        const { assert!(SNIFF_BYTES < 100_000) };
        csv.truncate(200_000);
        let mut rows =
            CsvRows::open(Dropping(std::io::Cursor::new(csv)), MatchMethod::Email).unwrap();
        let err = loop {
            match rows.next_record() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the read cannot end cleanly"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.code, "READ_FAILED", "{err:?}");
        assert!(
            err.is_transient() && err.message.contains("connection reset"),
            "{err:?}"
        );
        assert!(!FileProblem::new("NOT_A_CSV", "x").is_transient());
    }

    #[test]
    fn workbooks_and_binary_files_are_refused_with_how_to_export() {
        let err = read_all(b"PK\x03\x04rest-of-zip", MatchMethod::Email).unwrap_err();
        assert_eq!(err.code, "NOT_A_CSV");
        assert!(err.message.contains("CSV UTF-8"));
        let err = read_all(b"\x89PNG\r\n\x1a\n\0\0\0", MatchMethod::Email).unwrap_err();
        assert_eq!(err.code, "NOT_A_CSV");
        assert_eq!(
            read_all(b"", MatchMethod::Email).unwrap_err().code,
            "EMPTY_FILE"
        );
    }
}
