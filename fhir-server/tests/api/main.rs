//! The HTTP test suite: one binary (fast to link), each test against a real server on a random
//! port, over real HTTP, on SQLite and on PostgreSQL.

mod helpers;

mod bad_input;
mod crud;
mod formats;
mod history;
mod metadata;
mod process;
mod roundtrip;
mod tenants;
