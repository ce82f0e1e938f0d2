//! The FHIR R4 REST server: HTTP, routing, content negotiation, and the mapping of every error
//! to an OperationOutcome. Everything below HTTP lives in `fhir-core`.

pub mod authz;
pub mod cli;
pub mod config;
pub mod context;
pub mod dispatch;
pub mod error;
pub mod first_start;
pub mod format;
pub mod headers;
pub mod interactions;
pub mod response;
pub mod route;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tenant;

pub use config::Config;
pub use startup::Application;
