//! What a resolver reads from the request: state, caller, loader.

use async_graphql::Context;
use async_graphql::dataloader::Loader;
use sea_orm::DbErr;
use std::sync::Arc;

use super::loaders::{AppLoader, RequestLoader};
use crate::auth::Principal;
use crate::auth::principal::{Caller, Client};
use crate::error::AppError;
use crate::state::AppState;

pub fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

pub fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    static NOBODY: Caller =
        Caller { principal: None, refused: None, client: Client { address: None, user_agent: None } };
    ctx.data_opt::<Caller>().unwrap_or(&NOBODY)
}

/// Where the request comes from.
pub fn client<'a>(ctx: &Context<'a>) -> &'a Client {
    &caller(ctx).client
}

pub fn principal<'a>(ctx: &Context<'a>) -> Option<&'a Principal> {
    caller(ctx).principal.as_ref()
}

/// The caller, or `UNAUTHENTICATED` saying why there is none.
pub fn signed_in<'a>(ctx: &Context<'a>) -> Result<&'a Principal, AppError> {
    let caller = caller(ctx);
    caller.principal.as_ref().ok_or(match caller.refused {
        Some(refused) => AppError::Unauthenticated(refused.message()),
        None => AppError::Unauthenticated("sign in first: no valid session"),
    })
}

/// A guard for fields that need no more of the caller than a valid
/// session (namespaces, the router's entities): refused with
/// `UNAUTHENTICATED` saying why. Resolvers that act for the caller take
/// the principal with [`signed_in`] instead, once, and hand it to the
/// service.
pub struct SignedIn;

impl async_graphql::Guard for SignedIn {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        signed_in(ctx).map(|_| ()).map_err(Into::into)
    }
}

/// Loads one key through the request's DataLoader.
pub async fn load<K>(ctx: &Context<'_>, key: K) -> Result<Option<<AppLoader as Loader<K>>::Value>, AppError>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    AppLoader: Loader<K, Error = Arc<DbErr>>,
{
    ctx.data_unchecked::<RequestLoader>()
        .load_one(key)
        .await
        .map_err(|e| AppError::Internal(crate::db::describe_db_error(&e)))
}

/// Loads a row that must exist (a foreign key target).
pub async fn load_required<K>(ctx: &Context<'_>, key: K) -> Result<<AppLoader as Loader<K>>::Value, AppError>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + std::fmt::Debug + 'static,
    AppLoader: Loader<K, Error = Arc<DbErr>>,
{
    load(ctx, key.clone()).await?.ok_or_else(|| AppError::Internal(anyhow::anyhow!("dangling reference {key:?}")))
}
