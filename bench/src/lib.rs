//! A side-by-side benchmark of FHIR servers: our server and Helios HFS, each on SQLite and on
//! PostgreSQL, measured in the same run on the same data, and the `BENCHMARKS.md` report made
//! from the results.
//!
//! - [`target`] starts a server as a child process on a new, empty store;
//! - [`load`] is the load generator (closed-loop workers) and its statistics;
//! - [`workloads`] are the workloads, one file each: import, read/vread, CRUD mix, searches
//!   (patient-list budgets, single queries, includes, `$everything`, history, the search series,
//!   the search mix);
//! - [`run`] runs every workload against every target into [`results::Results`];
//! - [`report`] writes `BENCHMARKS.md` and its SVG plots from a results file.

pub mod http;
pub mod load;
pub mod report;
pub mod results;
pub mod run;
pub mod svg;
pub mod synthea;
pub mod target;
pub mod workloads;
