//! Enumerations stored as text columns. The stored strings are the names of
//! the public GraphQL enumeration values, so a row reads the same in SQL as
//! in the API.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Type of the person diagnosed (類型) on the notification form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum CaseType {
    #[sea_orm(string_value = "CONFIRMED")]
    Confirmed,
    #[sea_orm(string_value = "ASYMPTOMATIC_CARRIER")]
    AsymptomaticCarrier,
    #[sea_orm(string_value = "SUSPECTED")]
    Suspected,
    #[sea_orm(string_value = "DECEASED_CONFIRMED")]
    DeceasedConfirmed,
    #[sea_orm(string_value = "DECEASED_SUSPECTED")]
    DeceasedSuspected,
    #[sea_orm(string_value = "CLOSE_CONTACT")]
    CloseContact,
}

/// Sex as entered on the notification form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Sex {
    #[sea_orm(string_value = "MALE")]
    Male,
    #[sea_orm(string_value = "FEMALE")]
    Female,
    #[sea_orm(string_value = "UNKNOWN")]
    Unknown,
}

/// Method of a laboratory test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum TestKind {
    #[sea_orm(string_value = "PCR")]
    Pcr,
    #[sea_orm(string_value = "ANTIGEN_QUANTITATIVE")]
    AntigenQuantitative,
    #[sea_orm(string_value = "ANTIGEN_QUALITATIVE")]
    AntigenQualitative,
    #[sea_orm(string_value = "LAMP")]
    Lamp,
}

/// Result of a laboratory test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum TestResult {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "POSITIVE")]
    Positive,
    #[sea_orm(string_value = "NEGATIVE")]
    Negative,
    #[sea_orm(string_value = "INCONCLUSIVE")]
    Inconclusive,
}

/// Where a patient is cared for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum CareSetting {
    #[sea_orm(string_value = "UNDECIDED")]
    Undecided,
    #[sea_orm(string_value = "HOSPITAL")]
    Hospital,
    #[sea_orm(string_value = "ACCOMMODATION")]
    Accommodation,
    #[sea_orm(string_value = "HOME")]
    Home,
    #[sea_orm(string_value = "NONE")]
    None,
}

/// Severity on the MHLW clinical scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Severity {
    #[sea_orm(string_value = "MILD")]
    Mild,
    #[sea_orm(string_value = "MODERATE_I")]
    ModerateI,
    #[sea_orm(string_value = "MODERATE_II")]
    ModerateII,
    #[sea_orm(string_value = "SEVERE")]
    Severe,
}

/// How a case ended (転帰).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Outcome {
    #[sea_orm(string_value = "RECOVERED")]
    Recovered,
    #[sea_orm(string_value = "DECEASED")]
    Deceased,
    #[sea_orm(string_value = "OTHER")]
    Other,
    #[sea_orm(string_value = "RELEASED_FROM_CARE")]
    ReleasedFromCare,
    #[sea_orm(string_value = "DISCHARGED")]
    Discharged,
    #[sea_orm(string_value = "TRANSFERRED_OUT")]
    TransferredOut,
}

/// What kind of medical institution a facility is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum FacilityKind {
    #[sea_orm(string_value = "TESTING_CLINIC")]
    TestingClinic,
    #[sea_orm(string_value = "TESTING_CENTRE")]
    TestingCentre,
    #[sea_orm(string_value = "HOSPITAL")]
    Hospital,
}

/// What kind of organisation an account belongs to; the account's role
/// follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum OrganisationKind {
    #[sea_orm(string_value = "MEDICAL_INSTITUTION")]
    MedicalInstitution,
    #[sea_orm(string_value = "HEALTH_CENTRE")]
    HealthCentre,
    #[sea_orm(string_value = "PREFECTURE")]
    Prefecture,
    #[sea_orm(string_value = "NATIONAL")]
    National,
    #[sea_orm(string_value = "OPERATOR")]
    Operator,
}

/// Who entered a daily health report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum ReporterKind {
    #[sea_orm(string_value = "PATIENT")]
    Patient,
    #[sea_orm(string_value = "STAFF")]
    Staff,
}

/// Why staff opened a record outside their reach (break-glass access).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum BreakGlassReason {
    /// The person is being treated in an emergency.
    #[sea_orm(string_value = "EMERGENCY_TREATMENT")]
    EmergencyTreatment,
    /// Care is being handed over and the record is not transferred yet.
    #[sea_orm(string_value = "HANDOVER_OF_CARE")]
    HandoverOfCare,
    /// An outbreak investigation needs the record now.
    #[sea_orm(string_value = "OUTBREAK_INVESTIGATION")]
    OutbreakInvestigation,
    /// Another reason, which the explanation gives.
    #[sea_orm(string_value = "OTHER")]
    Other,
}

/// An administrator's finding on a break-glass access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum BreakGlassFinding {
    /// The stated reason justified the access.
    #[sea_orm(string_value = "JUSTIFIED")]
    Justified,
    /// It did not: the matter goes to the information-security office.
    #[sea_orm(string_value = "UNJUSTIFIED")]
    Unjustified,
}

/// Method of diagnosis on the notification form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum DiagnosisMethod {
    #[sea_orm(string_value = "ISOLATION")]
    Isolation,
    #[sea_orm(string_value = "NUCLEIC_ACID_AMPLIFICATION")]
    NucleicAcidAmplification,
    #[sea_orm(string_value = "ANTIGEN_QUALITATIVE")]
    AntigenQualitative,
    #[sea_orm(string_value = "ANTIGEN_QUANTITATIVE")]
    AntigenQuantitative,
    #[sea_orm(string_value = "CLINICAL")]
    Clinical,
}

/// The specimen a diagnosis was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Specimen {
    #[sea_orm(string_value = "SPUTUM")]
    Sputum,
    #[sea_orm(string_value = "TRACHEAL_ASPIRATE")]
    TrachealAspirate,
    #[sea_orm(string_value = "BRONCHOALVEOLAR_LAVAGE")]
    BronchoalveolarLavage,
    #[sea_orm(string_value = "PHARYNGEAL_SWAB")]
    PharyngealSwab,
    #[sea_orm(string_value = "NASAL_ASPIRATE")]
    NasalAspirate,
    #[sea_orm(string_value = "NASAL_SWAB")]
    NasalSwab,
    #[sea_orm(string_value = "NASOPHARYNGEAL_SWAB")]
    NasopharyngealSwab,
    #[sea_orm(string_value = "STOOL")]
    Stool,
    #[sea_orm(string_value = "SALIVA")]
    Saliva,
    #[sea_orm(string_value = "AUTOPSY_MATERIAL")]
    AutopsyMaterial,
    #[sea_orm(string_value = "OTHER")]
    Other,
}

/// Whether a record counts: an active case, a suspected case closed as not
/// a case, or a duplicate withdrawn (取下げ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum RecordStatus {
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    #[sea_orm(string_value = "NOT_A_CASE")]
    NotACase,
    #[sea_orm(string_value = "WITHDRAWN")]
    Withdrawn,
}

/// Where a notification stands with the responsible health centre (受理).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum NotificationStatus {
    #[sea_orm(string_value = "RECEIVED")]
    Received,
    #[sea_orm(string_value = "ACCEPTED")]
    Accepted,
    #[sea_orm(string_value = "RETURNED")]
    Returned,
}

/// The groups notified individually under the limited notification (from
/// September 2022); deaths are always notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum NotificationGroup {
    #[sea_orm(string_value = "AGED_65_OR_OVER")]
    Aged65OrOver,
    #[sea_orm(string_value = "NEEDS_ADMISSION")]
    NeedsAdmission,
    #[sea_orm(string_value = "AT_RISK_NEEDING_TREATMENT")]
    AtRiskNeedingTreatment,
    #[sea_orm(string_value = "PREGNANT")]
    Pregnant,
}

/// Where a close contact met the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum ExposureSetting {
    #[sea_orm(string_value = "HOUSEHOLD")]
    Household,
    #[sea_orm(string_value = "WORKPLACE")]
    Workplace,
    #[sea_orm(string_value = "MEDICAL_INSTITUTION")]
    MedicalInstitution,
    #[sea_orm(string_value = "WELFARE_FACILITY")]
    WelfareFacility,
    #[sea_orm(string_value = "SCHOOL_OR_CHILDCARE")]
    SchoolOrChildcare,
    #[sea_orm(string_value = "DINING")]
    Dining,
    #[sea_orm(string_value = "OTHER")]
    Other,
}

/// The category of a case's infection route (感染経路).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum InfectionRoute {
    #[sea_orm(string_value = "HOUSEHOLD")]
    Household,
    #[sea_orm(string_value = "WORKPLACE")]
    Workplace,
    #[sea_orm(string_value = "MEDICAL_INSTITUTION")]
    MedicalInstitution,
    #[sea_orm(string_value = "WELFARE_FACILITY")]
    WelfareFacility,
    #[sea_orm(string_value = "SCHOOL_OR_CHILDCARE")]
    SchoolOrChildcare,
    #[sea_orm(string_value = "DINING")]
    Dining,
    #[sea_orm(string_value = "OTHER")]
    Other,
    #[sea_orm(string_value = "UNKNOWN")]
    Unknown,
}

/// How sure an infection route is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum RouteCertainty {
    #[sea_orm(string_value = "CONFIRMED")]
    Confirmed,
    #[sea_orm(string_value = "PRESUMED")]
    Presumed,
    #[sea_orm(string_value = "UNKNOWN")]
    Unknown,
}
