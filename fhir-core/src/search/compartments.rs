//! The R4 compartment definitions.
