//! The PATCH formats: how a patch document describes changes to a resource, and how the changes
//! are applied to the resource in its JSON form.

pub mod fhirpath_patch;
