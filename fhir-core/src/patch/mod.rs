//! The formats of the FHIR `PATCH` interaction.
//!
//! - [`json_patch`]: JSON Patch (RFC 6902) over `serde_json` values, with JSON Pointer (RFC 6901);
//! - [`fhirpath_patch`]: FHIRPath Patch (a `Parameters` resource of operations), applied to a
//!   resource in its JSON form with the FHIRPath engine and the model.
//!
//! Each format is a pure library: it knows nothing of HTTP, the store or OperationOutcomes; the
//! server maps its typed errors to responses.

pub mod fhirpath_patch;
pub mod json_patch;
