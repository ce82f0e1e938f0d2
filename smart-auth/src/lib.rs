//! The SMART App Launch 2.x authorization server.
//!
//! This crate will own OAuth 2.0 / OpenID Connect endpoints (`authorize`, `token`, introspection,
//! revocation, discovery), users, roles, clients, signing keys and scope evaluation. Together with
//! `fhir-server` it is the only crate that knows HTTP. It is empty until the SMART issue.
