//! The HTTP test suite: one binary (fast to link), each test against a real server on a random
//! port, over real HTTP, on SQLite and on PostgreSQL.

mod helpers;

mod authz_compartment;
mod authz_helpers;
mod authz_scopes;

mod bad_input;
mod bench_smoke;
mod bundle_concurrency;
mod bundle_failures;
mod bundle_helpers;
mod bundle_patch;
mod bundle_references;
mod bundles;
mod crud;
mod formats;
mod history;
mod metadata;
mod oauth_attacks;
mod oauth_bad_input;
mod oauth_flow;
mod oauth_helpers;
mod oauth_openid;
mod patch;
mod process;
mod roundtrip;
mod smart_clients;
mod tenants;

mod search_bad_input;
mod search_chain_has;
mod search_common;
mod search_compartment;
mod search_conditional;
mod search_custom_params;
mod search_date;
mod search_helpers;
mod search_number_quantity;
mod search_post;
mod search_read_your_writes;
mod search_reference;
mod search_results;
mod search_string;
mod search_tenants;
mod search_token;
mod search_uri_composite_special;
