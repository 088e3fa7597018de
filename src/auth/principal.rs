//! The caller of a request, resolved from its session, and where the
//! request comes from.

use std::net::IpAddr;

use entity::enums::OrganisationKind;

/// The roles of the gateway. A staff account's role follows from the kind
/// of its organisation; a patient has no organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

impl Role {
    pub fn of_organisation(kind: OrganisationKind) -> Role {
        match kind {
            OrganisationKind::MedicalInstitution => Role::MedicalStaff,
            OrganisationKind::HealthCentre => Role::HealthCentreStaff,
            OrganisationKind::Prefecture => Role::PrefectureStaff,
            OrganisationKind::National => Role::NationalAnalyst,
            OrganisationKind::Operator => Role::SystemAdmin,
        }
    }
}

/// A signed-in caller. Built only from a live session.
#[derive(Debug, Clone)]
pub struct Principal {
    pub session_id: i64,
    pub role: Role,
    /// The staff account; `None` for patients.
    pub account_id: Option<i64>,
    pub username: Option<String>,
    pub organisation_id: Option<i64>,
    /// The facility of a medical institution's staff.
    pub facility_id: Option<i64>,
    /// The health centre of a health centre's staff.
    pub health_centre_id: Option<i64>,
    /// The prefecture of a prefecture's staff.
    pub prefecture_id: Option<i32>,
    /// The patient of a patient session.
    pub patient_id: Option<i64>,
    /// The GraphQL operation name of the current request, for the audit log.
    pub operation: Option<String>,
    /// The client's address of the current request, for the audit log.
    pub address: Option<IpAddr>,
    /// When the session ends at the latest (its absolute lifetime).
    pub session_expires_at: chrono::DateTime<chrono::Utc>,
    /// For a machine client: the API key it called with.
    pub key: Option<Box<KeyUse>>,
    /// The moment of the current request: grants that last a limited time
    /// (break-glass access) are judged at it.
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Principal {
    /// A patient signed in with their smartphone input ID.
    pub fn patient(
        session_id: i64,
        patient_id: i64,
        session_expires_at: chrono::DateTime<chrono::Utc>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Principal {
        Principal {
            session_id,
            role: Role::Patient,
            account_id: None,
            username: None,
            organisation_id: None,
            facility_id: None,
            health_centre_id: None,
            prefecture_id: None,
            patient_id: Some(patient_id),
            operation: None,
            address: None,
            session_expires_at,
            key: None,
            at,
        }
    }
}

/// The API key a machine client calls with.
#[derive(Debug, Clone)]
pub struct KeyUse {
    pub service_account_id: i64,
    pub api_key_id: i64,
    pub scope: super::keys::Scope,
}

/// The request's view of who is calling, put into every GraphQL request.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub principal: Option<Principal>,
    /// Why credentials that were sent name nobody.
    pub refused: Option<Refused>,
    /// Where the request comes from (signed in or not).
    pub client: Client,
}

/// Where a request comes from, as its transport saw it: kept with the
/// sessions it opens, and in the audit entries of sign-ins and their
/// refusals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    /// The client's address (behind a trusted proxy, the forwarded one).
    pub address: Option<IpAddr>,
    /// The `User-Agent` header, at most [`USER_AGENT_MOST`] characters.
    pub user_agent: Option<String>,
}

/// Longest `User-Agent` kept (longer ones are cut); what a client sends is
/// not ours to store without bound.
pub const USER_AGENT_MOST: usize = 256;

impl Client {
    pub fn new(address: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent.map(str::trim).filter(|agent| !agent.is_empty());
        Client { address, user_agent: user_agent.map(|agent| agent.chars().take(USER_AGENT_MOST).collect()) }
    }
}

/// Why the credentials of a request name no caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The `Authorization` header is not `Bearer <token>`.
    Malformed,
    /// The token is nothing this server issued.
    Unknown,
    /// The token's session has ended.
    Ended,
    /// The API key has expired or was revoked.
    KeyEnded,
}

impl Refused {
    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Refused::Malformed => "the Authorization header must be `Bearer <token>`",
            Refused::Unknown => "the token is not a session of this server: sign in first",
            Refused::Ended => "the session has ended (signed out, expired or idle too long): sign in again",
            Refused::KeyEnded => "the API key has expired or was revoked",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_agent_is_kept_trimmed_and_bounded_and_a_blank_one_is_none() {
        let long = "x".repeat(USER_AGENT_MOST + 50);
        assert_eq!(Client::new(None, Some(&long)).user_agent.map(|agent| agent.chars().count()), Some(USER_AGENT_MOST));
        let japanese = "端末".repeat(USER_AGENT_MOST);
        let cut = Client::new(None, Some(&japanese)).user_agent.unwrap_or_default();
        assert_eq!(cut.chars().count(), USER_AGENT_MOST, "cut at a character, not a byte");
        assert_eq!(Client::new(None, Some("  curl/8.5  ")).user_agent.as_deref(), Some("curl/8.5"));
        assert_eq!(Client::new(None, Some("   ")).user_agent, None);
    }
}
