//! FHIRPath (R4, N1 normative) over JSON resources.
