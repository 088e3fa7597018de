//! HL7 FHIR R4 bundles from laboratory and hospital systems, read without
//! I/O into the same items as a CSV row: each SARS-CoV-2 test
//! `Observation` (by its LOINC code) with its `Patient`, its `Specimen`
//! (the facility's specimen ID and when it was taken) and the performing
//! `Organization` (the facility's code), plus the person's `Condition`
//! (the date of onset) and an inpatient `Encounter` (the admission).
//!
//! Names follow the Japanese core profile: the kanji and the kana are two
//! `HumanName` entries told apart by the `iso21090-EN-representation`
//! extension (`IDE` ideographic, `SYL` syllabic); without it, a name
//! written in katakana is the reading and the other the name. Results are
//! SNOMED CT codes or FHIR interpretation codes. Every refusal names the
//! entry (from 1) and the element.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{Sex, TestKind, TestResult};
use serde_json::Value;

use super::import::{Place, Row, RowError};
use super::person::{BirthDate, ContactPhone, NameKana, PersonName, PostalAddress};
use super::text::Refusal;

const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const NAME_REPRESENTATION: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";

/// The method of a SARS-CoV-2 test by its LOINC code.
fn test_kind(loinc: &str) -> Option<Result<TestKind, Refusal>> {
    Some(Ok(match loinc {
        "94500-6" | "94309-2" => TestKind::Pcr,
        "95608-6" => TestKind::Lamp,
        "94558-4" | "97097-0" => TestKind::AntigenQualitative,
        "96119-3" => TestKind::AntigenQuantitative,
        "94763-0" => return Some(Err("a culture is not a test method of the record (PCR, LAMP or antigen)")),
        _ => return None,
    }))
}

/// A result from a SNOMED CT or interpretation code.
fn result_code(system: &str, code: &str) -> Option<TestResult> {
    match (system, code) {
        (SNOMED, "10828004" | "260373001") | (INTERPRETATION, "POS" | "DET" | "A") => Some(TestResult::Positive),
        (SNOMED, "260415000" | "260385009") | (INTERPRETATION, "NEG" | "ND" | "N") => Some(TestResult::Negative),
        (SNOMED, "419984006" | "82334004") | (INTERPRETATION, "IND" | "E") => Some(TestResult::Inconclusive),
        _ => None,
    }
}

/// The codings of a `CodeableConcept`.
fn codings(concept: &Value) -> impl Iterator<Item = (&str, &str)> {
    concept["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|coding| Some((coding["system"].as_str().unwrap_or_default(), coding["code"].as_str()?)))
}

/// The entries of a bundle and how references find them.
struct Bundle<'a> {
    entries: Vec<&'a Value>,
    /// `fullUrl` and `Type/id` → entry index.
    by_reference: HashMap<String, usize>,
}

impl<'a> Bundle<'a> {
    fn new(entries: &'a [Value]) -> Self {
        let mut by_reference = HashMap::new();
        let resources: Vec<&Value> = entries.iter().map(|entry| &entry["resource"]).collect();
        for (index, entry) in entries.iter().enumerate() {
            if let Some(url) = entry["fullUrl"].as_str() {
                by_reference.insert(url.to_owned(), index);
            }
            let resource = &entry["resource"];
            if let (Some(kind), Some(id)) = (resource["resourceType"].as_str(), resource["id"].as_str()) {
                by_reference.insert(format!("{kind}/{id}"), index);
            }
        }
        Bundle { entries: resources, by_reference }
    }

    /// The entry a `Reference` points to, if it is of `kind`.
    fn follow(&self, reference: &Value, kind: &str) -> Option<(usize, &'a Value)> {
        let text = reference["reference"].as_str()?;
        let index = *self.by_reference.get(text)?;
        let resource = self.entries[index];
        (resource["resourceType"].as_str() == Some(kind)).then_some((index, resource))
    }

    fn of_kind(&self, kind: &'a str) -> impl Iterator<Item = (usize, &'a Value)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(move |(_, r)| r["resourceType"].as_str() == Some(kind))
            .map(|(i, r)| (i, *r))
    }
}

/// Reads a bundle: the items of its test observations, each checked, or
/// the refusals of each (an entry is numbered from 1). `Err` refuses the
/// whole document.
pub fn items(document: &Value, now: DateTime<Utc>) -> Result<Vec<Result<Row, Vec<RowError>>>, String> {
    if document["resourceType"].as_str() != Some("Bundle") {
        return Err("the body is not a FHIR R4 Bundle (resourceType must be \"Bundle\")".to_owned());
    }
    match document["type"].as_str() {
        Some("transaction" | "collection" | "batch" | "message") => {}
        _ => return Err("the bundle's type must be transaction or collection".to_owned()),
    }
    let entries = document["entry"].as_array().map(Vec::as_slice).unwrap_or_default();
    let bundle = Bundle::new(entries);
    let mut out = Vec::new();
    let mut admitted: Vec<usize> = Vec::new();
    let mut with_test: Vec<usize> = Vec::new();
    for (index, observation) in bundle.of_kind("Observation") {
        let Some(kind) = codings(&observation["code"]).filter(|(s, _)| *s == LOINC).find_map(|(_, c)| test_kind(c))
        else {
            // Vital signs and other observations are not items.
            continue;
        };
        let item = Item { bundle: &bundle, observation, place: Place::Entry(index + 1), now, errors: Vec::new() };
        let read = item.read(kind, &mut admitted);
        if let Some(patient) = bundle.follow(&observation["subject"], "Patient") {
            with_test.push(patient.0);
        }
        out.push(read);
    }
    for (index, _) in bundle.of_kind("Patient") {
        if !with_test.contains(&index) {
            out.push(Err(vec![RowError::at(
                Place::Entry(index + 1),
                Some("Patient"),
                "BAD_USER_INPUT",
                "the person has no SARS-CoV-2 test Observation (by its LOINC code) in the bundle",
            )]));
        }
    }
    Ok(out)
}

/// One test observation being read, its refusals kept.
struct Item<'a, 'b> {
    bundle: &'b Bundle<'a>,
    observation: &'a Value,
    place: Place,
    now: DateTime<Utc>,
    errors: Vec<RowError>,
}

impl Item<'_, '_> {
    fn refuse(&mut self, place: Place, field: &'static str, why: impl Into<String>) {
        self.errors.push(RowError::at(place, Some(field), "BAD_USER_INPUT", why));
    }

    fn check<T>(&mut self, place: Place, field: &'static str, value: Result<T, Refusal>) -> Option<T> {
        value.map_err(|why| self.refuse(place, field, why)).ok()
    }

    fn read(mut self, kind: Result<TestKind, Refusal>, admitted: &mut Vec<usize>) -> Result<Row, Vec<RowError>> {
        let here = self.place;
        let today = self.now.with_timezone(&super::calendar::local_offset()).date_naive();
        let kind = self.check(here, "Observation.code", kind);
        let result = self.result();
        let Some((patient_index, patient)) = self.bundle.follow(&self.observation["subject"], "Patient") else {
            self.refuse(here, "Observation.subject", "must refer to a Patient of the bundle");
            return Err(self.errors);
        };
        let at_patient = Place::Entry(patient_index + 1);
        let (kanji, kana) = names(patient);
        let name_kanji = self.check(
            at_patient,
            "Patient.name",
            kanji.ok_or("needs the name in kanji").and_then(|n| PersonName::parse(&n)),
        );
        let name_kana = self.check(
            at_patient,
            "Patient.name",
            kana.ok_or("needs the name's reading in katakana (a HumanName with the SYL representation)")
                .and_then(|n| NameKana::parse(&n)),
        );
        let sex = self.check(
            at_patient,
            "Patient.gender",
            match patient["gender"].as_str() {
                Some("male") => Ok(Sex::Male),
                Some("female") => Ok(Sex::Female),
                Some("other" | "unknown") => Ok(Sex::Unknown),
                _ => Err("must be male, female, other or unknown"),
            },
        );
        let birth_date = self.check(
            at_patient,
            "Patient.birthDate",
            patient["birthDate"]
                .as_str()
                .ok_or("must be given")
                .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| "must be a date: 1980-04-01"))
                .and_then(|d| BirthDate::parse(d, today)),
        );
        let phone = patient["telecom"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["system"].as_str() == Some("phone"))
            .and_then(|t| t["value"].as_str());
        let phone = match phone {
            Some(phone) => self.check(at_patient, "Patient.telecom", ContactPhone::parse(phone)),
            None => None,
        };
        let address = patient["address"].as_array().and_then(|a| a.first()).map(address_text);
        let address = match address.filter(|a| !a.is_empty()) {
            Some(address) => self.check(at_patient, "Patient.address", PostalAddress::parse(&address)),
            None => None,
        };
        // The specimen: its identifier is the facility's specimen ID.
        let (specimen_id, sampled_at) = match self.bundle.follow(&self.observation["specimen"], "Specimen") {
            Some((index, specimen)) => {
                let at = Place::Entry(index + 1);
                let id =
                    specimen["identifier"].as_array().and_then(|ids| ids.first()).and_then(|i| i["value"].as_str());
                let id = self.check(
                    at,
                    "Specimen.identifier",
                    id.ok_or("must hold the facility's specimen ID").and_then(specimen_text),
                );
                let taken = specimen["collection"]["collectedDateTime"].as_str();
                let taken = self.check(
                    at,
                    "Specimen.collection.collectedDateTime",
                    moment(taken.ok_or("must be given"), self.now),
                );
                (id, taken)
            }
            None => {
                self.refuse(
                    here,
                    "Observation.specimen",
                    "must refer to the Specimen of the bundle (its identifier is the facility's specimen ID)",
                );
                (None, None)
            }
        };
        if let (Some(birth), Some(taken)) = (birth_date, sampled_at)
            && taken.with_timezone(&super::calendar::local_offset()).date_naive() < birth.date()
        {
            self.refuse(here, "Specimen.collection.collectedDateTime", "must not be before the date of birth");
        }
        let facility_code = match self.observation["performer"].as_array().and_then(|p| p.first()) {
            Some(performer) => match self.bundle.follow(performer, "Organization") {
                Some((index, organisation)) => {
                    let code = organisation["identifier"]
                        .as_array()
                        .and_then(|ids| ids.first())
                        .and_then(|i| i["value"].as_str());
                    self.check(
                        Place::Entry(index + 1),
                        "Organization.identifier",
                        code.ok_or("must hold the medical institution code")
                            .and_then(|c| super::reference::InstitutionCode::parse(c).map(|_| c.to_owned())),
                    )
                }
                None => None,
            },
            None => None,
        };
        let onset_date = self.onset(patient_index, today);
        // An inpatient encounter of the person: the admission, once.
        let admitted_at = if admitted.contains(&patient_index) { None } else { self.admission(patient_index) };
        if admitted_at.is_some() {
            admitted.push(patient_index);
        }
        match (kind, result, name_kanji, name_kana, sex, birth_date, specimen_id, sampled_at) {
            (
                Some(test_kind),
                Some(result),
                Some(name_kanji),
                Some(name_kana),
                Some(sex),
                Some(birth_date),
                Some(specimen_id),
                Some(sampled_at),
            ) if self.errors.is_empty() => Ok(Row {
                place: here,
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
            _ => Err(self.errors),
        }
    }

    /// The result: the value's SNOMED CT code, else the interpretation;
    /// an observation not yet final without either is pending.
    fn result(&mut self) -> Option<TestResult> {
        let observation = self.observation;
        let coded = codings(&observation["valueCodeableConcept"])
            .chain(observation["interpretation"].as_array().into_iter().flatten().flat_map(codings))
            .find_map(|(system, code)| result_code(system, code));
        match (coded, observation["status"].as_str()) {
            (Some(result), Some("final" | "amended" | "corrected")) => Some(result),
            (None, Some("registered" | "preliminary")) => Some(TestResult::Pending),
            (Some(_), _) => {
                self.refuse(self.place, "Observation.status", "a result is final, amended or corrected");
                None
            }
            (None, _) => {
                self.refuse(
                    self.place,
                    "Observation.valueCodeableConcept",
                    "must be a SNOMED CT result (260373001 detected, 260415000 not detected, …) or an interpretation \
                     (POS, NEG, IND)",
                );
                None
            }
        }
    }

    /// The date of onset from the person's `Condition`, if any.
    fn onset(&mut self, patient: usize, today: NaiveDate) -> Option<NaiveDate> {
        let (index, condition) = self
            .bundle
            .of_kind("Condition")
            .find(|(_, c)| self.bundle.follow(&c["subject"], "Patient").is_some_and(|(p, _)| p == patient))?;
        let text = condition["onsetDateTime"].as_str().or_else(|| condition["onsetPeriod"]["start"].as_str())?;
        let day = text.get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let day =
            day.ok_or("must be a date or moment").and_then(|d| super::text::check_clinical_day(d, today).map(|()| d));
        self.check(Place::Entry(index + 1), "Condition.onsetDateTime", day)
    }

    /// The start of the person's inpatient `Encounter`, if any.
    fn admission(&mut self, patient: usize) -> Option<DateTime<Utc>> {
        let (index, encounter) = self.bundle.of_kind("Encounter").find(|(_, e)| {
            self.bundle.follow(&e["subject"], "Patient").is_some_and(|(p, _)| p == patient)
                && matches!(e["class"]["code"].as_str(), Some("IMP" | "ACUTE" | "NONAC"))
        })?;
        let start = encounter["period"]["start"].as_str();
        let now = self.now;
        self.check(Place::Entry(index + 1), "Encounter.period.start", moment(start.ok_or("must be given"), now))
    }
}

/// A FHIR `dateTime` (with its offset; a date alone is noon in Japan)
/// that is a plausible clinical moment.
fn moment(text: Result<&str, Refusal>, now: DateTime<Utc>) -> Result<DateTime<Utc>, Refusal> {
    super::import::past_moment(text?, now)
}

fn specimen_text(text: &str) -> Result<String, Refusal> {
    super::text::check_line(text)?;
    if text.chars().count() > 64 { Err("must be at most 64 characters") } else { Ok(text.to_owned()) }
}

/// The name in kanji and its reading in katakana.
fn names(patient: &Value) -> (Option<String>, Option<String>) {
    let mut kanji = None;
    let mut kana = None;
    let mut plain = Vec::new();
    for name in patient["name"].as_array().into_iter().flatten() {
        let text = name_text(name);
        if text.is_empty() {
            continue;
        }
        let representation = name["extension"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["url"].as_str() == Some(NAME_REPRESENTATION))
            .and_then(|e| e["valueCode"].as_str());
        match representation {
            Some("IDE") => kanji = kanji.or(Some(text)),
            Some("SYL") => kana = kana.or(Some(text)),
            _ => plain.push(text),
        }
    }
    for text in plain {
        let katakana =
            text.chars().all(|c| c.is_whitespace() || ('\u{30A0}'..='\u{30FF}').contains(&c) || c == '\u{3000}');
        if katakana && kana.is_none() {
            kana = Some(text);
        } else if kanji.is_none() {
            kanji = Some(text);
        }
    }
    (kanji, kana)
}

/// A `HumanName` as one line: its text, or the family and given names.
fn name_text(name: &Value) -> String {
    if let Some(text) = name["text"].as_str() {
        return text.trim().to_owned();
    }
    let given = name["given"].as_array().into_iter().flatten().filter_map(Value::as_str);
    let parts: Vec<&str> = name["family"].as_str().into_iter().chain(given).collect();
    parts.join(" ")
}

/// An `Address` as one line: its text, or its parts in Japanese order.
fn address_text(address: &Value) -> String {
    if let Some(text) = address["text"].as_str() {
        return text.trim().to_owned();
    }
    let lines = address["line"].as_array().into_iter().flatten().filter_map(Value::as_str);
    let parts: Vec<&str> =
        [address["state"].as_str(), address["city"].as_str()].into_iter().flatten().chain(lines).collect();
    parts.concat()
}
