//! Structural validation of a resource against the R4 model.
