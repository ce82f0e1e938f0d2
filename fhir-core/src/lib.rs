//! The core of the FHIR R4 server, with no knowledge of HTTP.
//!
//! - [`model`]: metadata of every R4 resource and datatype, generated from the official definitions;
//! - [`json`] and [`xml`]: the two wire formats, driven by the model;
//! - [`validate`]: structural validation of a resource against the model;
//! - [`fhirpath`]: the FHIRPath engine;
//! - [`search`]: search parameters, value extraction, parsed search requests and exact matching;
//! - [`patch`]: the `PATCH` formats (JSON Patch, FHIRPath Patch);
//! - [`summary`]: the `_summary` and `_elements` subsets of a resource;
//! - [`store`]: the versioned, multi-tenant resource store (SQLite and PostgreSQL) with its change
//!   sequence.
//!
//! Errors are typed ([`StoreError`], [`json::FormatError`]) and problems in content are
//! [`Issue`]s; the server maps them to HTTP status codes and OperationOutcomes in one place.

#![warn(missing_docs)]

pub mod fhirpath;
#[cfg(test)]
mod generated;
pub mod index;
pub mod json;
pub mod model;
pub mod outcome;
pub mod patch;
pub mod search;
pub mod store;
pub mod summary;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod validate;
pub mod xml;

pub use outcome::{Issue, Severity};
pub use store::{ResourceStore, StoreError};
