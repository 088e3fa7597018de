//! Integration tests: the real gateway on a random port, spoken to over
//! HTTP as a client would, on SQLite and on PostgreSQL.

mod helpers;

mod auth;
mod bad_input;
mod bounds;
mod breakglass;
mod cases;
mod contacts;
mod crosstab;
mod dashboards;
mod edge;
mod errors;
mod federation;
mod hygiene;
mod imports;
mod insider;
mod keys;
mod ledger;
mod lifecycle;
mod limits;
mod loaders;
mod matrix;
mod notification;
mod operations;
mod organisations;
mod planned;
mod readme;
mod reports;
mod rows;
mod scope;
mod security;
mod signin;
mod statistics;
mod stores;
mod subscriptions;
mod transports;
mod work;
