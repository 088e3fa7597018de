//! Who is calling: the `Principal` of a request, passwords, sessions, and
//! `policy`, the one table of who may read and do what.

pub mod keys;
pub mod matrix;
pub mod password;
pub mod policy;
pub mod principal;
pub mod recent;
pub mod revocation;
pub mod session;

pub use principal::{Principal, Role};
