//! Integration tests: the real gateway on a random port, spoken to over
//! HTTP as a client would, on SQLite and on PostgreSQL.

mod helpers;

mod auth;
