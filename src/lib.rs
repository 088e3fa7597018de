//! The HER-SYS gateway: an open GraphQL service for a national COVID-19
//! case information system. See ARCHITECTURE.md for the map of the code.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod import_client;
pub mod metrics;
pub mod pipeline;
pub mod redact;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;
