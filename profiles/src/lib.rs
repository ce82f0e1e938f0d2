//! Profile validation.
//!
//! This crate will own validation of resources against StructureDefinition profiles (US Core and
//! customer profiles): slicing, fixed values, invariants (FHIRPath), bindings through
//! `terminology`. Structural validation against the base R4 model lives in `fhir-core`.
