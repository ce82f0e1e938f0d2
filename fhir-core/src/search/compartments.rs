//! The R4 compartment definitions.

/// The parameters that put a resource of `resource_type` in a compartment (placeholder).
pub fn compartment_params(compartment: &str, resource_type: &str) -> Option<&'static [String]> {
    let _ = (compartment, resource_type);
    None
}

/// The types that have parameters in a compartment (placeholder).
pub fn compartment_types(compartment: &str) -> Vec<&'static str> {
    let _ = compartment;
    Vec::new()
}
