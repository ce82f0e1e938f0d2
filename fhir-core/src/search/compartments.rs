//! The R4 compartment definitions.

/// The parameters that put a resource of `resource_type` in a compartment (placeholder).
pub fn compartment_params(compartment: &str, resource_type: &str) -> Option<&'static [String]> {
    let _ = (compartment, resource_type);
    None
}
