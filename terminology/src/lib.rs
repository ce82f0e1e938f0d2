//! Terminology services for the FHIR server.
//!
//! This crate will own CodeSystem and ValueSet handling: loading the official R4 code systems and
//! value sets, `$expand`, `$validate-code`, `$lookup`, and `memberOf()` for FHIRPath. It is empty
//! until the terminology issue; nothing depends on it yet.
