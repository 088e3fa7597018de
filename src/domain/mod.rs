//! The vocabulary and rules of the case flow, free of I/O: input values
//! parsed into types that cannot hold a wrong value ("parse, don't
//! validate"), smartphone input IDs, age bands, the codes and names of
//! reference data, and the rules every text and every clinical date from
//! clients follows.

pub mod calendar;
pub mod fhir;
pub mod import;
pub mod kana;
pub mod notification;
pub mod observation;
pub mod password_policy;
pub mod person;
pub mod population;
pub mod reference;
pub mod release;
pub mod smartphone_id;
pub mod text;

pub use person::{AgeBand, BirthDate, ContactEmail, ContactPhone, NameKana, PersonName, PostalAddress};
pub use reference::{InstitutionCode, InstitutionName, PrefectureCode};
pub use smartphone_id::SmartphoneId;
