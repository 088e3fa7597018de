//! The authorisation matrix as data: role × relationship to the patient ×
//! field group → access. `docs/authorisation.md` is generated from it
//! (`hersys authorisation-matrix`), a test fails when the committed file
//! differs, and the API test suite walks every cell against the real server,
//! so the document, this table and `policy` cannot drift apart.

use super::Role;

/// How a caller stands to a patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    /// The caller's facility registered and tested the patient.
    RegisteringFacility,
    /// The caller's hospital admitted the patient.
    AdmittingHospital,
    /// The responsible health centre referred the patient to the caller's
    /// facility.
    ReferredFacility,
    /// Another facility's patient.
    OtherFacility,
    /// The caller's health centre is responsible for the patient.
    ResponsibleCentre,
    /// The caller's health centre was responsible before a transfer.
    PreviousCentre,
    /// Another health centre's patient.
    OtherCentre,
    /// A patient otherwise out of reach, while a break-glass access the
    /// caller opened lasts.
    BreakGlass,
    /// A patient of the caller's prefecture whom the responsible health
    /// centre placed in accommodation care.
    PrefectureAccommodation,
    /// A patient of the caller's prefecture in another care setting (or
    /// placed in accommodation by the prefecture itself).
    PrefectureOtherCare,
    /// A patient of another prefecture.
    OtherPrefecture,
    /// Any patient.
    AnyPatient,
    /// The patient themself.
    Themself,
    /// Another patient.
    AnotherPatient,
}

impl Relationship {
    pub fn describe(self) -> &'static str {
        match self {
            Relationship::RegisteringFacility => "registering and testing facility",
            Relationship::AdmittingHospital => "admitting hospital",
            Relationship::ReferredFacility => "facility the patient was referred to",
            Relationship::OtherFacility => "no relationship",
            Relationship::ResponsibleCentre => "responsible health centre",
            Relationship::PreviousCentre => "previous health centre (after a transfer)",
            Relationship::OtherCentre => "another health centre's patient",
            Relationship::BreakGlass => "otherwise out of reach, during the caller's break-glass access",
            Relationship::PrefectureAccommodation => {
                "own prefecture, placed in accommodation care by the health centre"
            }
            Relationship::PrefectureOtherCare => {
                "own prefecture, other care setting (or accommodation the prefecture decided itself)"
            }
            Relationship::OtherPrefecture => "another prefecture's patient",
            Relationship::AnyPatient => "any patient",
            Relationship::Themself => "the patient themself",
            Relationship::AnotherPatient => "another patient",
        }
    }
}

/// What a caller may do with a group of fields or operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Fields are returned.
    Read,
    /// The row is reached but the fields are `null` with `FORBIDDEN`.
    Forbidden,
    /// The operation is allowed.
    Write,
    /// The operation is allowed with the limit in the document's notes.
    WriteLimited,
    /// The row is out of reach (lists omit it, lookups find nothing) or the
    /// operation is refused.
    None,
}

impl Access {
    fn word(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Forbidden => "FORBIDDEN",
            Access::Write => "write",
            Access::WriteLimited => "write*",
            Access::None => "none",
        }
    }
}

/// The column groups, in order.
pub const GROUPS: [&str; 12] = [
    "de-identified fields",
    "personal fields",
    "tests and results",
    "care decision",
    "admission",
    "condition and discharge",
    "health reports",
    "follow-up calls and visits",
    "outcome and transfer",
    "record completion and status",
    "contacts and investigation",
    "work queue",
];

/// The personal fields (the "personal fields" group).
pub const PERSONAL_FIELDS: [&str; 15] = [
    "nameKanji",
    "nameKana",
    "birthDate",
    "address",
    "phone",
    "email",
    "smartphoneId",
    "previousSmartphoneId",
    "note",
    "occupation",
    "guardianName",
    "currentLocation",
    "infectionRoute",
    "priorInfectionNote",
    "notes",
];

use Access::{Forbidden as F, None as N, Read as R, Write as W, WriteLimited as L};

/// One row: a role, a relationship, and the access to each group.
pub type Row = (Role, Relationship, [Access; 12]);

/// The matrix. Columns as in `GROUPS`.
pub const MATRIX: [Row; 16] = [
    (Role::MedicalStaff, Relationship::RegisteringFacility, [R, R, W, N, N, N, N, N, N, L, N, N]),
    (Role::MedicalStaff, Relationship::AdmittingHospital, [R, R, W, N, W, W, N, N, N, N, N, N]),
    (Role::MedicalStaff, Relationship::ReferredFacility, [R, R, W, N, N, N, N, N, N, N, N, N]),
    (Role::MedicalStaff, Relationship::OtherFacility, [N, N, N, N, N, N, N, N, N, N, N, N]),
    (Role::MedicalStaff, Relationship::BreakGlass, [R, R, N, N, N, N, N, N, N, N, N, N]),
    (Role::HealthCentreStaff, Relationship::ResponsibleCentre, [R, R, L, W, W, L, W, W, W, W, W, W]),
    (Role::HealthCentreStaff, Relationship::PreviousCentre, [R, R, N, N, N, N, N, N, N, N, N, N]),
    (Role::HealthCentreStaff, Relationship::OtherCentre, [N, N, N, N, N, N, N, N, N, N, N, N]),
    (Role::HealthCentreStaff, Relationship::BreakGlass, [R, R, N, N, N, N, N, N, N, N, N, N]),
    (Role::PrefectureStaff, Relationship::PrefectureAccommodation, [R, R, N, L, N, N, W, W, N, N, N, R]),
    (Role::PrefectureStaff, Relationship::PrefectureOtherCare, [R, F, N, L, N, N, N, N, N, N, N, R]),
    (Role::PrefectureStaff, Relationship::OtherPrefecture, [N, N, N, N, N, N, N, N, N, N, N, N]),
    (Role::NationalAnalyst, Relationship::AnyPatient, [R, F, N, N, N, N, N, N, N, N, N, N]),
    (Role::SystemAdmin, Relationship::AnyPatient, [N, N, N, N, N, N, N, N, N, N, N, N]),
    (Role::Patient, Relationship::Themself, [R, R, N, N, N, N, W, N, N, N, N, N]),
    (Role::Patient, Relationship::AnotherPatient, [N, N, N, N, N, N, N, N, N, N, N, N]),
];

fn role_name(role: Role) -> &'static str {
    match role {
        Role::MedicalStaff => "MEDICAL_STAFF",
        Role::HealthCentreStaff => "HEALTH_CENTRE_STAFF",
        Role::PrefectureStaff => "PREFECTURE_STAFF",
        Role::NationalAnalyst => "NATIONAL_ANALYST",
        Role::SystemAdmin => "SYSTEM_ADMIN",
        Role::Patient => "PATIENT",
    }
}

/// docs/authorisation.md.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Authorisation matrix\n\n\
         Generated from `src/auth/matrix.rs` by `hersys authorisation-matrix`; a test fails when this file \
         differs, and the API tests check every cell against the running server. Refresh with\n\
         `cargo run --quiet -- authorisation-matrix > docs/authorisation.md`.\n\n\
         Reading: `read` returns the fields; `FORBIDDEN` reaches the patient but each personal field is `null` \
         with a `FORBIDDEN` error at its path; `none` does not reach the patient at all (lists omit it, \
         lookups return `null`, mutations answer `NOT_FOUND` or `FORBIDDEN`). Writing: `write` allowed, \
         `write*` allowed with the limit below, `none` refused.\n\n",
    );
    out.push_str("| role | relationship to the patient |");
    for group in GROUPS {
        out.push_str(&format!(" {group} |"));
    }
    out.push_str("\n|---|---|");
    for _ in GROUPS {
        out.push_str("---|");
    }
    out.push('\n');
    for (role, relationship, cells) in
        MATRIX.iter().filter(|row| row.1 != Relationship::AnyPatient || row.0 != Role::MedicalStaff)
    {
        out.push_str(&format!("| `{}` | {} |", role_name(*role), relationship.describe()));
        for cell in cells {
            out.push_str(&format!(" {} |", cell.word()));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "\nPersonal fields: {}. De-identified fields: case type, sex, age band, prefecture, health centre, \
         care setting, outcome, dates, test results, severity.\n\n\
         Limits (`write*`):\n\n\
         - Tests and results: medical staff for the facility that took the test; a health centre only on \
         behalf of a facility of its district that has no system access of its own.\n\
         - Care decision: the prefecture may place a patient in accommodation care (宿泊療養), which it runs; \
         every other decision is the responsible health centre's.\n\
         - Condition and discharge: the admitting hospital; a health centre only for a hospital without \
         system access.\n\
         - Record completion and status: the registering facility completes and corrects the record's items \
         (`updatePatient`); the responsible health centre does that too (for a facility without system access, \
         naming it), and alone closes a record as not a case (`closePatientAsNotACase`), withdraws a duplicate \
         (`withdrawPatient`), and accepts or returns a facility's notification (`acceptNotification`, \
         `returnNotification`).\n\
         - Contacts and investigation: the health centre responsible for a case registers its close contacts \
         (`registerContact`), links people already in its reach (`linkContact`), records the behaviour \
         history before onset (`recordBehaviour`; read as `Patient.behaviourHistory`, personal data) and \
         hands a contact living elsewhere to that district's centre (`handOverContact`); a contact registered \
         or handed to another centre is reached by that centre, which is told live (`contactHandovers`), and \
         the first keeps the link (`Patient.contactLinks`, IDs only) without read access. The route \
         (`infectionRouteCategory`, `infectionRouteCertainty`) is an item of the record. Each change is kept \
         in `Patient.history`, which is personal data like the items. Clusters (`createCluster`, \
         `addToCluster`) are kept by health centres and read, without personal data, by staff with clinical \
         access; their members through the row scope.\n\n\
         Break-glass access (`breakGlass`): medical institution and health centre staff, signed in as \
         themselves, may open a record outside their reach by stating a reason, for at most 240 minutes; \
         they read it as above and change nothing, each personal read is audited as \
         `READ_PERSONAL_BREAK_GLASS`, the responsible health centre is told live (`breakGlassAlerts`), and \
         administrators review every access (`breakGlassAccesses`, `reviewBreakGlassAccess`).\n\n\
         Work queue: the items of a health centre's queue (`workQueue`, `caseEvents`) are the case events \
         addressed to it whose patient it reaches now; its own staff act on them (`acknowledgeWorkItem`, \
         `assignWorkItem`, `completeWorkItem`, `reopenWorkItem`), each action audited. A prefecture's staff \
         read the queues of its centres, with the field rules above, and act on none; a centre a patient left \
         keeps the items it had, not the new ones.\n\n\
         A patient's sign-in lock (`Patient.signInLock`, `liftPatientSignInLock`): only the responsible health \
         centre sees and lifts it; anyone else who reaches the patient gets `FORBIDDEN`.\n\n\
         Not patient data: reference lists (prefectures, health centres, facilities) are readable by every \
         staff role; health centres and facilities, each with the organisation that stands for it, are \
         created and changed only by `SYSTEM_ADMIN` (`createHealthCentre`, `updateHealthCentre`, \
         `createFacility`, `updateFacility`; on the command line `hersys health-centre` and `hersys facility`); \
         accounts, organisations and the audit log are readable only by `SYSTEM_ADMIN`, who reaches no \
         patient. The beds and rooms a prefecture secures are reported by its own staff only \
         (`reportCapacity`) and read, with the figures, by those who read its statistics.\n",
        PERSONAL_FIELDS.map(|f| format!("`{f}`")).join(", ")
    ));
    out
}
