//! The public enumerations of docs/contract.md, mirrored from the stored ones in
//! `entity::enums` (`remote` derives the conversions both ways).

use async_graphql::Enum;

/// Type of the person diagnosed (類型), item 1 of the notification form.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::CaseType")]
pub enum CaseType {
    /// Patient, confirmed case (患者（確定例）).
    Confirmed,
    /// Asymptomatic carrier of the pathogen (無症状病原体保有者).
    AsymptomaticCarrier,
    /// Suspected case (疑似症患者).
    Suspected,
    /// Dead body of a confirmed patient (感染症死亡者の死体).
    DeceasedConfirmed,
    /// Dead body of a suspected case (感染症死亡疑い者の死体).
    DeceasedSuspected,
    /// Close contact (濃厚接触者).
    CloseContact,
}

/// Sex as entered on the notification form.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::Sex")]
pub enum Sex {
    /// Male (男).
    Male,
    /// Female (女).
    Female,
    /// Unknown or not stated.
    Unknown,
}

/// Method of a laboratory test (method of diagnosis, item 12).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::TestKind")]
pub enum TestKind {
    /// Nucleic-acid amplification by PCR (LOINC 94500-6 for respiratory specimens).
    Pcr,
    /// Quantitative antigen test (LOINC 96119-3).
    AntigenQuantitative,
    /// Qualitative (rapid) antigen test (LOINC 94558-4).
    AntigenQualitative,
    /// Loop-mediated isothermal amplification (LOINC 95608-6).
    Lamp,
}

/// Result of a laboratory test.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::TestResult")]
pub enum TestResult {
    /// Sampled, result not known yet.
    Pending,
    /// Positive (陽性).
    Positive,
    /// Negative (陰性): recorded too, the number of tests is a key indicator.
    Negative,
    /// Inconclusive (判定保留).
    Inconclusive,
}

/// Where a patient is cared for (療養場所).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::CareSetting")]
pub enum CareSetting {
    /// Not decided yet (療養先調整中).
    Undecided,
    /// Hospital care (入院).
    Hospital,
    /// Accommodation (hotel) care run by the prefecture (宿泊療養).
    Accommodation,
    /// Home care (自宅療養).
    Home,
    /// No care needed.
    None,
}

/// Severity on the MHLW clinical scale (重症度).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::Severity")]
pub enum Severity {
    /// Mild (軽症): SpO2 ≥ 96%, no pneumonia.
    Mild,
    /// Moderate I (中等症I): 93% < SpO2 < 96%, breathlessness or pneumonia.
    #[graphql(name = "MODERATE_I")]
    ModerateI,
    /// Moderate II (中等症II): SpO2 ≤ 93%, respiratory failure, needs oxygen.
    #[graphql(name = "MODERATE_II")]
    ModerateII,
    /// Severe (重症): ICU or mechanical ventilation.
    Severe,
}

/// How a case ended (転帰).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::Outcome")]
pub enum Outcome {
    /// Recovered: discharge or release criteria met.
    Recovered,
    /// Died (死亡).
    Deceased,
    /// Any other ending (e.g. moved abroad).
    Other,
    /// Released from home or accommodation care (療養解除) under the release
    /// rule in force (`Patient.outcomeRule`).
    ReleasedFromCare,
    /// Discharged from hospital at the end of the case (退院).
    Discharged,
    /// Moved out of the system's care (転出), e.g. abroad.
    TransferredOut,
}

/// What kind of medical institution a facility is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::FacilityKind")]
pub enum FacilityKind {
    /// Outpatient clinic that tests (帰国者・接触者外来, 発熱外来).
    TestingClinic,
    /// Local outpatient or testing centre (地域外来・検査センター).
    TestingCentre,
    /// Hospital that admits patients (入院先の医療機関).
    Hospital,
}

/// What kind of organisation an account belongs to.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::OrganisationKind")]
pub enum OrganisationKind {
    /// A medical institution (testing clinic, testing centre, hospital).
    MedicalInstitution,
    /// A health centre (保健所).
    HealthCentre,
    /// A prefecture (都道府県).
    Prefecture,
    /// MHLW (厚生労働省) or an infectious-disease surveillance centre.
    National,
    /// The operator of the system.
    Operator,
}

/// Ten-year age bands of the MHLW open data ("under 10", "10s", …, "90 and
/// over").
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::AgeBand")]
pub enum AgeBand {
    /// Under 10 years (10歳未満).
    #[graphql(name = "UNDER_10")]
    Under10,
    /// 10 to 19 (10代).
    #[graphql(name = "AGE_10_TO_19")]
    Age10s,
    /// 20 to 29 (20代).
    #[graphql(name = "AGE_20_TO_29")]
    Age20s,
    /// 30 to 39 (30代).
    #[graphql(name = "AGE_30_TO_39")]
    Age30s,
    /// 40 to 49 (40代).
    #[graphql(name = "AGE_40_TO_49")]
    Age40s,
    /// 50 to 59 (50代).
    #[graphql(name = "AGE_50_TO_59")]
    Age50s,
    /// 60 to 69 (60代).
    #[graphql(name = "AGE_60_TO_69")]
    Age60s,
    /// 70 to 79 (70代).
    #[graphql(name = "AGE_70_TO_79")]
    Age70s,
    /// 80 to 89 (80代).
    #[graphql(name = "AGE_80_TO_89")]
    Age80s,
    /// 90 and over (90歳以上).
    #[graphql(name = "AGE_90_AND_OVER")]
    Age90AndOver,
}

/// The roles of the gateway. A staff account's role follows from the kind
/// of its organisation; a patient has no organisation.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::auth::Role")]
pub enum Role {
    /// Staff of a medical institution (testing clinic, testing centre, hospital).
    MedicalStaff,
    /// Staff of a health centre (保健所).
    HealthCentreStaff,
    /// Staff of a prefecture (都道府県).
    PrefectureStaff,
    /// MHLW or an infectious-disease surveillance centre: de-identified data only.
    NationalAnalyst,
    /// The operator: accounts and the audit log, no clinical data.
    SystemAdmin,
    /// A patient signed in with their smartphone input ID (スマホ入力ID).
    Patient,
}

/// Method of diagnosis on the notification form (診断方法).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::DiagnosisMethod")]
pub enum DiagnosisMethod {
    /// Isolation and identification of the pathogen (分離・同定).
    Isolation,
    /// Nucleic-acid amplification: PCR, LAMP and the like (核酸増幅法).
    NucleicAcidAmplification,
    /// Qualitative antigen test (抗原定性検査).
    AntigenQualitative,
    /// Quantitative antigen test (抗原定量検査).
    AntigenQuantitative,
    /// Clinical diagnosis without a test (臨床診断), for symptomatic
    /// household contacts from 2022.
    Clinical,
}

/// The specimen the diagnosis was made from (検体).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::Specimen")]
pub enum Specimen {
    /// Sputum (喀痰).
    Sputum,
    /// Tracheal aspirate (気道吸引液).
    TrachealAspirate,
    /// Bronchoalveolar lavage (肺胞洗浄液).
    BronchoalveolarLavage,
    /// Pharyngeal swab (咽頭拭い液).
    PharyngealSwab,
    /// Nasal aspirate (鼻腔吸引液).
    NasalAspirate,
    /// Nasal swab (鼻腔拭い液).
    NasalSwab,
    /// Nasopharyngeal swab (鼻咽頭拭い液).
    NasopharyngealSwab,
    /// Stool (便).
    Stool,
    /// Saliva (唾液).
    Saliva,
    /// Autopsy material (剖検材料).
    AutopsyMaterial,
    /// Another specimen.
    Other,
}

/// Whether a record counts in the figures.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::RecordStatus")]
pub enum RecordStatus {
    /// A case (or a person under investigation) that counts.
    Active,
    /// A suspected case or contact whose tests found nothing, closed as not
    /// a case (`closePatientAsNotACase`); counts in no figure from then on.
    NotACase,
    /// A duplicate withdrawn (取下げ) into the record that survives
    /// (`withdrawPatient`); counts in no figure from then on.
    Withdrawn,
}

/// A symptom at diagnosis, item 10 of the notification form (症状). (The
/// daily health report has its own, `Symptom`.)
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::notification::Symptom")]
pub enum SymptomAtDiagnosis {
    /// Fever (発熱).
    Fever,
    /// Cough (咳).
    Cough,
    /// Sore throat (咽頭痛).
    SoreThroat,
    /// Runny nose (鼻汁).
    RunnyNose,
    /// Breathlessness (呼吸困難).
    Breathlessness,
    /// Fatigue (全身倦怠感).
    Fatigue,
    /// Headache (頭痛).
    Headache,
    /// Loss of smell (嗅覚異常).
    LossOfSmell,
    /// Loss of taste (味覚異常).
    LossOfTaste,
    /// Diarrhoea (下痢).
    Diarrhoea,
    /// Vomiting (嘔吐).
    Vomiting,
    /// Pneumonia (肺炎像).
    Pneumonia,
    /// Another symptom.
    Other,
}

/// A risk factor for severe disease (重症化リスク因子).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::notification::RiskFactor")]
pub enum RiskFactor {
    /// Malignant tumour (悪性腫瘍).
    Cancer,
    /// Chronic obstructive pulmonary disease (COPD).
    Copd,
    /// Chronic kidney disease (慢性腎臓病).
    ChronicKidneyDisease,
    /// Hypertension (高血圧).
    Hypertension,
    /// Diabetes (糖尿病).
    Diabetes,
    /// Dyslipidaemia (脂質異常症).
    Dyslipidaemia,
    /// Obesity, BMI 30 or over (肥満).
    Obesity,
    /// Smoking (喫煙).
    Smoking,
    /// Immunosuppression (免疫抑制).
    Immunosuppression,
    /// Pregnancy (妊娠).
    Pregnancy,
}

/// Where a notification stands with the responsible health centre (受理).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::NotificationStatus")]
pub enum NotificationStatus {
    /// Sent by the facility, not yet decided by the health centre.
    Received,
    /// Accepted by the health centre (or entered by it).
    Accepted,
    /// Returned to the facility with a reason; received again once it is
    /// corrected.
    Returned,
}

/// The groups notified individually under the limited notification (from
/// September 2022); deaths are always notified.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::NotificationGroup")]
pub enum NotificationGroup {
    /// Aged 65 or over (set by age when not given).
    Aged65OrOver,
    /// Needing admission (入院を要する者).
    NeedsAdmission,
    /// At risk of severe disease and needing treatment or oxygen.
    AtRiskNeedingTreatment,
    /// Pregnant (妊婦).
    Pregnant,
}

/// Where a close contact met the case.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::ExposureSetting")]
pub enum ExposureSetting {
    /// The same household (同居).
    Household,
    /// The workplace (職場).
    Workplace,
    /// A medical institution (医療機関).
    MedicalInstitution,
    /// An elderly or welfare facility (高齢者・福祉施設).
    WelfareFacility,
    /// A school or childcare (学校・保育所).
    SchoolOrChildcare,
    /// Dining or nightlife (会食・飲食店).
    Dining,
    /// Anywhere else.
    Other,
}

/// The category of a case's infection route (感染経路).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::InfectionRoute")]
pub enum InfectionRoute {
    /// In the household (家庭内).
    Household,
    /// At work (職場).
    Workplace,
    /// In a medical institution (医療機関).
    MedicalInstitution,
    /// In an elderly or welfare facility (施設).
    WelfareFacility,
    /// At school or in childcare (学校・保育所).
    SchoolOrChildcare,
    /// Dining or nightlife (会食・接待を伴う飲食).
    Dining,
    /// Elsewhere.
    Other,
    /// Investigated, not found (感染経路不明).
    Unknown,
}

/// How sure an infection route is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::RouteCertainty")]
pub enum RouteCertainty {
    /// Confirmed (確定).
    Confirmed,
    /// Presumed (推定).
    Presumed,
    /// Unknown (不明).
    Unknown,
}

/// The order of a list by registration.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RegistrationOrder {
    /// The latest registration first.
    NewestFirst,
    /// The earliest registration first.
    OldestFirst,
}
