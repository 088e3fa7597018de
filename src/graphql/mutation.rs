//! The root `Mutation`. Each resolver parses its input, calls one service
//! and wraps the result; the services own transactions and rules.

use async_graphql::{Context, ID, Object, Result};
use chrono::NaiveDate;

use super::context::{principal, signed_in, state};
use super::enums::TestResult;
use super::inputs::{RecordTestInput, RegisterPatientInput};
use super::types::*;
use crate::services::{self, parse_id};

pub struct Mutation;

/// Changes to the case record. Every change is checked against the caller's role and written in one transaction; a refused change writes nothing.
#[Object]
impl Mutation {
    /// Signs a staff account in and returns a new session.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's username.")] username: String,
        #[graphql(desc = "The account's password.", secret)] password: String,
    ) -> Result<Session> {
        let opened = services::accounts::login(state(ctx), &username, &password).await?;
        Ok(Session {
            token: opened.token,
            expires_at: opened.session.expires_at,
            principal: opened.principal,
        })
    }

    /// Signs a patient in with the smartphone input ID (スマホ入力ID) they
    /// were given and their date of birth. Refused once the case has ended.
    async fn patient_login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The 12-digit smartphone input ID; hyphens and spaces are ignored.", secret)]
        smartphone_id: String,
        #[graphql(desc = "The patient's date of birth.", secret)] birth_date: NaiveDate,
    ) -> Result<Session> {
        let opened = services::accounts::patient_login(state(ctx), &smartphone_id, birth_date).await?;
        Ok(Session {
            token: opened.token,
            expires_at: opened.session.expires_at,
            principal: opened.principal,
        })
    }

    /// Ends the caller's session at once; its token stops working.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let principal = signed_in(ctx)?;
        services::accounts::logout(state(ctx), principal).await?;
        Ok(true)
    }

    /// Creates a patient record (新規作成) with the basic items, and its
    /// smartphone input ID (returned as `smartphoneId`).
    async fn register_patient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The basic items of the notification form.")] input: RegisterPatientInput,
    ) -> Result<Patient> {
        signed_in(ctx)?;
        let state = state(ctx);
        let parsed = input.parse(state.now().date_naive())?;
        Ok(Patient(
            services::patients::register(state, principal(ctx), parsed).await?,
        ))
    }

    /// Records a laboratory test, with its result if known. Negative results
    /// are recorded too.
    async fn record_test(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The test and, if known, its result.")] input: RecordTestInput,
    ) -> Result<LabTest> {
        signed_in(ctx)?;
        let parsed = input.parse()?;
        Ok(LabTest(
            services::tests::record(state(ctx), principal(ctx), parsed).await?,
        ))
    }

    /// Sets the result of a test (e.g. a pending one). A change is kept in
    /// the test's history; nothing is overwritten.
    async fn record_test_result(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The test.")] test_id: ID,
        #[graphql(desc = "The result; not PENDING.")] result: TestResult,
    ) -> Result<LabTest> {
        signed_in(ctx)?;
        let test_id = parse_id(&test_id, "testId")?;
        Ok(LabTest(
            services::tests::record_result(state(ctx), principal(ctx), test_id, result.into()).await?,
        ))
    }
}
