//! Conformance suites run against the project.
//!
//! This crate owns the external test corpora pinned in the project and the harnesses that run
//! them: the R4 examples package (format round trips), the FHIRPath suite, and later the patch
//! suites and Inferno-style checks. Its tests read the corpora from the project itself, never from
//! outside the checkout.
