//! The vocabulary and rules of the case flow, free of I/O: input values
//! parsed into types that cannot hold a wrong value ("parse, don't
//! validate"), smartphone input IDs, and age bands.

pub mod password_policy;
pub mod person;
pub mod smartphone_id;

pub use person::{AgeBand, BirthDate, ContactEmail, ContactPhone, NameKana, PersonName, PostalAddress};
pub use smartphone_id::SmartphoneId;
