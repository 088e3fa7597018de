//! The CSV layout facilities send their day's registrations and test
//! results in, read without I/O: the file's encoding (UTF-8 with or without
//! a byte-order mark, or Shift_JIS / CP932 as Japanese facility systems
//! export), its records as they arrive (quoted fields may hold commas,
//! quotes and line breaks), the header in English or Japanese, and each
//! row's values, checked with the same rules as the mutations. Every
//! refusal names the line and the column.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use entity::enums::{Sex, TestKind, TestResult};

use super::person::{BirthDate, ContactPhone, NameKana, PersonName, PostalAddress};
use super::text::Refusal;

/// Longest record accepted: a row of the layout is far shorter.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// The encoding of a file, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    ShiftJis,
}

impl Encoding {
    /// UTF-8 when the file starts with its byte-order mark or its first
    /// record is valid UTF-8; Shift_JIS (CP932) otherwise.
    pub fn detect(first_record: &[u8]) -> Encoding {
        if first_record.starts_with(b"\xEF\xBB\xBF") || std::str::from_utf8(first_record).is_ok() {
            Encoding::Utf8
        } else {
            Encoding::ShiftJis
        }
    }

    /// The text of a record; `None` if it is not valid in this encoding.
    pub fn decode(self, record: &[u8]) -> Option<String> {
        match self {
            Encoding::Utf8 => {
                let record = record.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(record);
                std::str::from_utf8(record).ok().map(str::to_owned)
            }
            Encoding::ShiftJis => {
                let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(record);
                (!had_errors).then(|| text.into_owned())
            }
        }
    }
}

/// Cuts a stream of bytes into records: at line breaks outside quotes. The
/// bytes of a line break, a comma and a quote never occur inside a
/// Shift_JIS character, so this works on the raw bytes of both encodings.
#[derive(Debug, Default)]
pub struct Records {
    pending: Vec<u8>,
    quoted: bool,
    /// The line the pending record starts on (1-based).
    line: usize,
    /// Lines seen so far.
    lines: usize,
    /// Skipping the rest of a record that was too long.
    overlong: bool,
}

/// A record cut from the stream: the line it starts on, and its bytes (or
/// the refusal of an overlong record).
pub type Record = (usize, Result<Vec<u8>, Refusal>);

impl Records {
    /// Takes the next chunk of the stream and returns the records it
    /// completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Record> {
        let mut out = Vec::new();
        for &byte in chunk {
            if self.pending.is_empty() && !self.overlong {
                self.line = self.lines + 1;
            }
            match byte {
                b'"' => self.quoted = !self.quoted,
                b'\n' => {
                    self.lines += 1;
                    if !self.quoted {
                        self.finish(&mut out);
                        continue;
                    }
                }
                _ => {}
            }
            if self.overlong {
                continue;
            }
            // One byte more than the bound: a record's `\r` before its
            // line break is not part of it.
            if self.pending.len() > MAX_RECORD_BYTES {
                self.overlong = true;
                self.pending.clear();
                continue;
            }
            self.pending.push(byte);
        }
        out
    }

    /// The last record, after the stream ended.
    pub fn finish_stream(&mut self) -> Vec<Record> {
        let mut out = Vec::new();
        if self.quoted && !self.overlong {
            out.push((self.line, Err("a quoted field is not closed before the end of the file")));
            self.pending.clear();
            self.quoted = false;
        } else {
            self.finish(&mut out);
        }
        out
    }

    fn finish(&mut self, out: &mut Vec<Record>) {
        if self.overlong {
            out.push((self.line, Err("the record is longer than 16 KiB")));
            self.overlong = false;
            self.quoted = false;
            return;
        }
        let mut record = std::mem::take(&mut self.pending);
        if record.last() == Some(&b'\r') {
            record.pop();
        }
        if record.len() > MAX_RECORD_BYTES {
            out.push((self.line, Err("the record is longer than 16 KiB")));
            self.quoted = false;
            return;
        }
        let blank = record.iter().all(|b| b.is_ascii_whitespace()) && !record.contains(&b',');
        if !blank {
            out.push((self.line, Ok(record)));
        }
    }
}

/// The fields of a record (RFC 4180 quoting: a field in quotes may hold
/// commas and line breaks, and `""` is a quote).
pub fn fields(record: &str) -> Result<Vec<String>, Refusal> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = record.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, '"') => return Err("a quote inside a field that is not quoted"),
            (false, ',') => {
                out.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, c) => {
                if was_quoted && !c.is_whitespace() {
                    return Err("text after the closing quote of a field");
                }
                field.push(c);
            }
        }
    }
    if quoted {
        return Err("a quoted field is not closed");
    }
    out.push(field);
    Ok(out)
}

/// A column of the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// The facility's code (optional: the importing account's facility).
    FacilityCode,
    /// The facility's own specimen ID: with the facility, the row's
    /// natural key.
    SpecimenId,
    NameKanji,
    NameKana,
    Sex,
    BirthDate,
    Phone,
    Address,
    TestKind,
    Result,
    SampledAt,
    /// The date symptoms began (a notification item; optional).
    OnsetDate,
    /// A hospital's admission of the person (optional).
    AdmittedAt,
}

impl Column {
    pub const ALL: [Column; 13] = [
        Column::FacilityCode,
        Column::SpecimenId,
        Column::NameKanji,
        Column::NameKana,
        Column::Sex,
        Column::BirthDate,
        Column::Phone,
        Column::Address,
        Column::TestKind,
        Column::Result,
        Column::SampledAt,
        Column::OnsetDate,
        Column::AdmittedAt,
    ];

    /// The English header, also the name errors give.
    pub fn name(self) -> &'static str {
        match self {
            Column::FacilityCode => "facility_code",
            Column::SpecimenId => "specimen_id",
            Column::NameKanji => "name_kanji",
            Column::NameKana => "name_kana",
            Column::Sex => "sex",
            Column::BirthDate => "birth_date",
            Column::Phone => "phone",
            Column::Address => "address",
            Column::TestKind => "test_kind",
            Column::Result => "result",
            Column::SampledAt => "sampled_at",
            Column::OnsetDate => "onset_date",
            Column::AdmittedAt => "admitted_at",
        }
    }

    /// The Japanese headers accepted for it.
    fn japanese(self) -> &'static [&'static str] {
        match self {
            Column::FacilityCode => &["医療機関コード", "施設コード"],
            Column::SpecimenId => &["検体ID", "検体番号"],
            Column::NameKanji => &["氏名"],
            Column::NameKana => &["フリガナ", "氏名（フリガナ）", "ふりがな"],
            Column::Sex => &["性別"],
            Column::BirthDate => &["生年月日"],
            Column::Phone => &["電話番号"],
            Column::Address => &["住所"],
            Column::TestKind => &["検査方法", "検査種別"],
            Column::Result => &["検査結果", "結果"],
            Column::SampledAt => &["検体採取日時", "検体採取日"],
            Column::OnsetDate => &["発症日", "発症年月日"],
            Column::AdmittedAt => &["入院日時", "入院日", "入院年月日"],
        }
    }

    fn required(self) -> bool {
        !matches!(self, Column::FacilityCode | Column::Phone | Column::Address | Column::OnsetDate | Column::AdmittedAt)
    }

    fn of_header(text: &str) -> Option<Column> {
        let text = text.trim().trim_start_matches('\u{FEFF}');
        Column::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(text) || c.japanese().contains(&text))
    }
}

/// Where in a file an item is: a line of a CSV file (of the record's
/// start), or an entry of a FHIR bundle (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    Line(usize),
    Entry(usize),
}

/// A refusal of one row (or of the header, line 1): where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub place: Place,
    /// The column (its English name) or the FHIR element, or `None` for
    /// the record as a whole.
    pub field: Option<&'static str>,
    pub code: &'static str,
    pub message: String,
}

impl RowError {
    fn new(line: usize, field: Option<Column>, message: impl Into<String>) -> Self {
        RowError::at(Place::Line(line), field.map(Column::name), "BAD_USER_INPUT", message)
    }

    pub fn at(place: Place, field: Option<&'static str>, code: &'static str, message: impl Into<String>) -> Self {
        RowError { place, field, code, message: message.into() }
    }
}

/// Where each column is in the file.
#[derive(Debug, Clone)]
pub struct Header {
    positions: Vec<(Column, usize)>,
    width: usize,
}

impl Header {
    /// The header (the file's first record, on `line`): every column
    /// known, none twice, every required one present.
    pub fn parse(line: usize, fields: &[String]) -> Result<Header, Vec<RowError>> {
        let mut positions = Vec::new();
        let mut errors = Vec::new();
        for (index, text) in fields.iter().enumerate() {
            match Column::of_header(text) {
                Some(column) if positions.iter().any(|(c, _)| *c == column) => {
                    errors.push(RowError::new(line, Some(column), "the column appears twice"));
                }
                Some(column) => positions.push((column, index)),
                None => errors.push(RowError::new(
                    line,
                    None,
                    format!("unknown column {:?} (see the layout: {})", text.trim(), Self::layout()),
                )),
            }
        }
        for column in Column::ALL.into_iter().filter(|c| c.required()) {
            if !positions.iter().any(|(c, _)| *c == column) {
                errors.push(RowError::new(line, Some(column), "a required column is missing"));
            }
        }
        if errors.is_empty() { Ok(Header { positions, width: fields.len() }) } else { Err(errors) }
    }

    /// The columns of the layout, in English.
    pub fn layout() -> String {
        Column::ALL.map(Column::name).join(", ")
    }

    fn get<'a>(&self, fields: &'a [String], column: Column) -> Option<&'a str> {
        let (_, index) = self.positions.iter().find(|(c, _)| *c == column)?;
        fields.get(*index).map(|f| f.trim()).filter(|f| !f.is_empty())
    }
}

/// One row, checked: a person and one test, with the notification items
/// and the admission the file may add.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub place: Place,
    pub facility_code: Option<String>,
    pub specimen_id: String,
    pub name_kanji: PersonName,
    pub name_kana: NameKana,
    pub sex: Sex,
    pub birth_date: BirthDate,
    pub phone: Option<ContactPhone>,
    pub address: Option<PostalAddress>,
    pub test_kind: TestKind,
    pub result: TestResult,
    pub sampled_at: DateTime<Utc>,
    pub onset_date: Option<NaiveDate>,
    pub admitted_at: Option<DateTime<Utc>>,
}

pub(crate) fn sex(text: &str) -> Result<Sex, Refusal> {
    match text.to_ascii_uppercase().as_str() {
        "MALE" | "M" | "1" => Ok(Sex::Male),
        "FEMALE" | "F" | "2" => Ok(Sex::Female),
        "UNKNOWN" | "0" | "9" => Ok(Sex::Unknown),
        _ => match text {
            "男" | "男性" => Ok(Sex::Male),
            "女" | "女性" => Ok(Sex::Female),
            "不明" => Ok(Sex::Unknown),
            _ => Err("must be MALE, FEMALE or UNKNOWN (男, 女, 不明)"),
        },
    }
}

pub(crate) fn test_kind(text: &str) -> Result<TestKind, Refusal> {
    match text.to_ascii_uppercase().as_str() {
        "PCR" => Ok(TestKind::Pcr),
        "ANTIGEN_QUANTITATIVE" => Ok(TestKind::AntigenQuantitative),
        "ANTIGEN_QUALITATIVE" => Ok(TestKind::AntigenQualitative),
        "LAMP" => Ok(TestKind::Lamp),
        _ => match text {
            "抗原定量" => Ok(TestKind::AntigenQuantitative),
            "抗原定性" => Ok(TestKind::AntigenQualitative),
            _ => Err("must be PCR, ANTIGEN_QUANTITATIVE, ANTIGEN_QUALITATIVE or LAMP (抗原定量, 抗原定性)"),
        },
    }
}

pub(crate) fn result(text: &str) -> Result<TestResult, Refusal> {
    match text.to_ascii_uppercase().as_str() {
        "POSITIVE" => Ok(TestResult::Positive),
        "NEGATIVE" => Ok(TestResult::Negative),
        "PENDING" => Ok(TestResult::Pending),
        "INCONCLUSIVE" => Ok(TestResult::Inconclusive),
        _ => match text {
            "陽性" => Ok(TestResult::Positive),
            "陰性" => Ok(TestResult::Negative),
            "判定中" | "結果待ち" => Ok(TestResult::Pending),
            "判定不能" => Ok(TestResult::Inconclusive),
            _ => Err("must be POSITIVE, NEGATIVE, PENDING or INCONCLUSIVE (陽性, 陰性, 判定中, 判定不能)"),
        },
    }
}

/// A date as `2022-08-01` or `2022/8/1`.
pub(crate) fn date(text: &str) -> Result<NaiveDate, Refusal> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y/%m/%d"))
        .map_err(|_| "must be a date: 2022-08-01 or 2022/8/1")
}

/// A moment in Japan time: `2022-08-01 09:30` (or with seconds, or with
/// `/`), or a date alone (noon), or RFC 3339 with its offset.
pub(crate) fn moment(text: &str) -> Result<DateTime<Utc>, Refusal> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .or_else(|| date(text).ok().map(|d| d.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default())))
        .ok_or("must be a moment in Japan time: 2022-08-01 09:30, or a date")?;
    super::calendar::local_offset()
        .from_local_datetime(&local)
        .single()
        .map(|at| at.with_timezone(&Utc))
        .ok_or("must be a moment in Japan time: 2022-08-01 09:30, or a date")
}

/// A moment of a clinical event (as [`moment`] reads it) that has
/// happened: on a clinical day up to today (Japan time) and not after
/// `now`.
pub(crate) fn past_moment(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Refusal> {
    let at = moment(text)?;
    let local = |t: DateTime<Utc>| t.with_timezone(&super::calendar::local_offset()).date_naive();
    super::text::check_clinical_day(local(at), local(now))?;
    if at > now { Err("must not be in the future") } else { Ok(at) }
}

/// Reads a row's columns one by one, keeping every refusal.
struct Reader<'a> {
    header: &'a Header,
    fields: &'a [String],
    line: usize,
    errors: Vec<RowError>,
}

impl Reader<'_> {
    /// The column's value parsed, or `None` (empty and optional, or
    /// refused: the refusal is kept).
    fn read<T>(&mut self, column: Column, parse: impl FnOnce(&str) -> Result<T, Refusal>) -> Option<T> {
        let Some(text) = self.header.get(self.fields, column) else {
            if column.required() {
                self.errors.push(RowError::new(self.line, Some(column), "must not be empty"));
            }
            return None;
        };
        parse(text).map_err(|why| self.errors.push(RowError::new(self.line, Some(column), why))).ok()
    }
}

impl Row {
    /// Checks the values of a record against the header: every refusal of
    /// the row, each with its column, or the row.
    pub fn parse(header: &Header, line: usize, fields: &[String], now: DateTime<Utc>) -> Result<Row, Vec<RowError>> {
        if fields.len() != header.width {
            let why = format!("has {} fields where the header has {}", fields.len(), header.width);
            return Err(vec![RowError::new(line, None, why)]);
        }
        let today = now.with_timezone(&super::calendar::local_offset()).date_naive();
        let mut r = Reader { header, fields, line, errors: Vec::new() };
        let specimen_id = r.read(Column::SpecimenId, |t| {
            super::text::check_line(t)?;
            if t.chars().count() > 64 { Err("must be at most 64 characters") } else { Ok(t.to_owned()) }
        });
        let facility_code =
            r.read(Column::FacilityCode, |t| super::reference::InstitutionCode::parse(t).map(|_| t.to_owned()));
        let name_kanji = r.read(Column::NameKanji, PersonName::parse);
        let name_kana = r.read(Column::NameKana, NameKana::parse);
        let sex = r.read(Column::Sex, sex);
        let birth_date = r.read(Column::BirthDate, |t| BirthDate::parse(date(t)?, today));
        let phone = r.read(Column::Phone, ContactPhone::parse);
        let address = r.read(Column::Address, PostalAddress::parse);
        let test_kind = r.read(Column::TestKind, test_kind);
        let result = r.read(Column::Result, result);
        let sampled_at = r.read(Column::SampledAt, |t| {
            let at = past_moment(t, now)?;
            match birth_date {
                Some(birth) if at.with_timezone(&super::calendar::local_offset()).date_naive() < birth.date() => {
                    Err("must not be before the date of birth")
                }
                _ => Ok(at),
            }
        });
        let onset_date = r.read(Column::OnsetDate, |t| {
            let day = date(t)?;
            super::text::check_clinical_day(day, today)?;
            match birth_date {
                Some(birth) if day < birth.date() => Err("must not be before the date of birth"),
                _ => Ok(day),
            }
        });
        let admitted_at = r.read(Column::AdmittedAt, |t| past_moment(t, now));
        match (specimen_id, name_kanji, name_kana, sex, birth_date, test_kind, result, sampled_at) {
            (
                Some(specimen_id),
                Some(name_kanji),
                Some(name_kana),
                Some(sex),
                Some(birth_date),
                Some(test_kind),
                Some(result),
                Some(sampled_at),
            ) if r.errors.is_empty() => Ok(Row {
                place: Place::Line(line),
                facility_code,
                specimen_id,
                name_kanji,
                name_kana,
                sex,
                birth_date,
                phone,
                address,
                test_kind,
                result,
                sampled_at,
                onset_date,
                admitted_at,
            }),
            _ => Err(r.errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2022-08-02T03:00:00Z").map(|t| t.to_utc()).unwrap_or_default()
    }

    fn all(records: &mut Records, bytes: &[u8]) -> Vec<Record> {
        let mut out = Vec::new();
        // One byte at a time: a record may be cut anywhere between chunks.
        for byte in bytes {
            out.extend(records.push(std::slice::from_ref(byte)));
        }
        out.extend(records.finish_stream());
        out
    }

    #[test]
    fn records_are_cut_at_line_breaks_outside_quotes_whatever_the_chunks() {
        let text = "a,b\r\n\"x,\ny\",2\n\n3,\"\"\"q\"\"\"\n4,5";
        let records = all(&mut Records::default(), text.as_bytes());
        let got: Vec<(usize, String)> = records
            .into_iter()
            .map(|(line, r)| (line, String::from_utf8(r.unwrap_or_default()).unwrap_or_default()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "a,b".to_owned()),
                (2, "\"x,\ny\",2".to_owned()),
                (5, "3,\"\"\"q\"\"\"".to_owned()),
                (6, "4,5".to_owned()),
            ]
        );
        assert_eq!(fields("\"x,\ny\",2"), Ok(vec!["x,\ny".to_owned(), "2".to_owned()]));
        assert_eq!(fields("3,\"\"\"q\"\"\""), Ok(vec!["3".to_owned(), "\"q\"".to_owned()]));
        assert!(fields("a\"b,c").is_err());
        assert!(fields("\"a\"b,c").is_err());
        let unclosed = all(&mut Records::default(), b"1,\"open\n2,3");
        assert!(matches!(unclosed.last(), Some((1, Err(_)))), "{unclosed:?}");
    }

    #[test]
    fn an_overlong_record_is_refused_alone_and_memory_stays_bounded() {
        let mut bytes = b"h1,h2\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', MAX_RECORD_BYTES * 4));
        bytes.extend(b"\nok,1\n");
        let mut records = Records::default();
        let got = all(&mut records, &bytes);
        assert_eq!(got.len(), 3);
        assert!(matches!(got[1], (2, Err(_))));
        assert!(matches!(&got[2], (3, Ok(r)) if r == b"ok,1"));
        assert!(records.pending.capacity() <= MAX_RECORD_BYTES * 2);
        // The bound is on the record, whatever its line break.
        for (length, ending, accepted) in [
            (MAX_RECORD_BYTES, "\r\n", true),
            (MAX_RECORD_BYTES, "\n", true),
            (MAX_RECORD_BYTES + 1, "\r\n", false),
            (MAX_RECORD_BYTES + 1, "\n", false),
        ] {
            let mut bytes = vec![b'y'; length];
            bytes.extend(ending.as_bytes());
            let got = all(&mut Records::default(), &bytes);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].1.is_ok(), accepted, "{length} bytes and {ending:?}");
        }
    }

    #[test]
    fn shift_jis_and_utf8_with_or_without_a_bom_read_the_same() {
        let text = "氏名,フリガナ\n";
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        assert_eq!(Encoding::detect(&sjis), Encoding::ShiftJis);
        assert_eq!(Encoding::ShiftJis.decode(&sjis).as_deref(), Some(text));
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend(text.as_bytes());
        assert_eq!(Encoding::detect(&bom), Encoding::Utf8);
        assert_eq!(Encoding::Utf8.decode(&bom).as_deref(), Some(text));
        assert_eq!(Encoding::detect(text.as_bytes()), Encoding::Utf8);
        assert_eq!(Encoding::Utf8.decode(&sjis), None, "Shift_JIS is not read as UTF-8");
    }

    fn header(names: &[&str]) -> Result<Header, Vec<RowError>> {
        Header::parse(1, &names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
    }

    const ENGLISH: [&str; 9] =
        ["specimen_id", "name_kanji", "name_kana", "sex", "birth_date", "phone", "test_kind", "result", "sampled_at"];

    #[test]
    fn headers_are_english_or_japanese_and_each_problem_is_named() {
        assert!(header(&ENGLISH).is_ok());
        let japanese =
            ["検体ID", "氏名", "フリガナ", "性別", "生年月日", "電話番号", "検査方法", "検査結果", "検体採取日時"];
        assert!(header(&japanese).is_ok());
        let errors = header(&["specimen_id", "name_kanji", "name_kanji", "colour"]).err().unwrap_or_default();
        let named: Vec<Option<&str>> = errors.iter().map(|e| e.field).collect();
        assert!(named.contains(&Some("name_kanji")), "{errors:?}");
        assert!(named.contains(&None), "the unknown column: {errors:?}");
        for missing in ["name_kana", "sex", "birth_date", "test_kind", "result", "sampled_at"] {
            assert!(named.contains(&Some(missing)), "{missing}: {errors:?}");
        }
        assert!(errors.iter().all(|e| e.place == Place::Line(1) && e.code == "BAD_USER_INPUT"));
    }

    fn row(values: [&str; 9]) -> Result<Row, Vec<RowError>> {
        let header = header(&ENGLISH).unwrap_or_else(|e| panic!("{e:?}"));
        Row::parse(&header, 7, &values.map(str::to_owned), now())
    }

    #[test]
    fn a_good_row_is_read_in_either_language_and_in_japan_time() {
        let read = row([
            "S-1",
            "山田 太郎",
            "ヤマダ タロウ",
            "男",
            "1980/4/1",
            "03-1234-5678",
            "PCR",
            "陽性",
            "2022-08-01 09:30",
        ])
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (read.place, read.sex, read.result, read.test_kind),
            (Place::Line(7), Sex::Male, TestResult::Positive, TestKind::Pcr)
        );
        assert_eq!(read.sampled_at.to_rfc3339(), "2022-08-01T00:30:00+00:00");
        let english = row([
            "S-2",
            "山田 花子",
            "ヤマダ ハナコ",
            "FEMALE",
            "1980-04-01",
            "",
            "ANTIGEN_QUALITATIVE",
            "negative",
            "2022-08-01",
        ]);
        assert!(
            english.is_ok_and(|r| r.phone.is_none() && r.result == TestResult::Negative),
            "empty optional fields are none"
        );
    }

    #[test]
    fn every_mistake_of_a_row_is_named_by_its_column() {
        let errors =
            row(["", "山田\u{202E}太郎", "yamada", "X", "2999-01-01", "abc", "CT", "maybe", "2022-08-09 10:00"])
                .err()
                .unwrap_or_default();
        let named: Vec<&str> = errors.iter().filter_map(|e| e.field).collect();
        for column in [
            "specimen_id",
            "name_kanji",
            "name_kana",
            "sex",
            "birth_date",
            "phone",
            "test_kind",
            "result",
            "sampled_at",
        ] {
            assert!(named.contains(&column), "{column}: {errors:?}");
        }
        assert!(errors.iter().all(|e| e.place == Place::Line(7)));
        let short = Row::parse(&header(&ENGLISH).unwrap_or_else(|e| panic!("{e:?}")), 3, &["a".to_owned()], now());
        assert!(short.is_err_and(|e| e.len() == 1 && e[0].field.is_none()));
        let before_birth =
            row(["S-3", "山田 太郎", "ヤマダ タロウ", "男", "2022-07-01", "", "PCR", "陰性", "2022-06-30"])
                .err()
                .unwrap_or_default();
        assert_eq!(before_birth.iter().filter_map(|e| e.field).collect::<Vec<_>>(), vec!["sampled_at"]);
    }
}
