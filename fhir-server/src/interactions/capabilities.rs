//! `GET [base]/metadata`: the CapabilityStatement, generated from what this server implements.
//!
//! The lists below are the single source of what is advertised; when an interaction is added to
//! [`crate::route`], it is added here too (the tests check that every advertised interaction
//! answers).

use axum::http::StatusCode;
use fhir_core::model::{FHIR_VERSION, Model};
use fhir_core::search::ParamType;
use serde_json::{Value, json};

use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::response::{Body, FhirResponse};

/// The type-level interactions every resource type supports.
const TYPE_INTERACTIONS: &[&str] = &[
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

/// R5's `CapabilityStatement.rest.resource.conditionalPatch`, as an R4 extension.
const CONDITIONAL_PATCH: &str = "http://hl7.org/fhir/5.0/StructureDefinition/extension-CapabilityStatement.rest.resource.conditionalPatch";

/// The system-level interactions.
const SYSTEM_INTERACTIONS: &[&str] = &["transaction", "batch", "history-system", "search-system"];

/// When this process first served the statement: the statement cannot change while it runs.
fn started_at() -> &'static str {
    static STARTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    STARTED.get_or_init(|| fhir_core::time::format_instant(fhir_core::time::now_millis()))
}

pub fn capabilities(request: &FhirRequest) -> Result<FhirResponse, FhirError> {
    // The tenant's registry: the official parameters plus the tenant's own.
    let extractor = request.state.index().extractor(&request.tenant);
    let registry = extractor.registry();
    let resources: Vec<Value> = Model::r4()
        .resource_type_names()
        .map(|name| {
            let params = registry.for_type(name);
            let search_params: Vec<Value> = params
                .iter()
                .map(|p| {
                    json!({
                        "name": p.code,
                        "definition": p.url,
                        "type": serde_json::to_value(p.param_type).unwrap_or(Value::Null),
                    })
                })
                .collect();
            let mut includes: Vec<String> = params
                .iter()
                .filter(|p| p.param_type == ParamType::Reference)
                .map(|p| format!("{name}:{}", p.code))
                .collect();
            includes.push("*".into());
            let mut resource = json!({
                // R4 has no element for conditional patch (R5 added it): the cross-version
                // extension of R5 says it.
                "extension": [{
                    "url": CONDITIONAL_PATCH,
                    "valueBoolean": true,
                }],
                "type": name,
                "profile": format!("http://hl7.org/fhir/StructureDefinition/{name}"),
                "interaction": TYPE_INTERACTIONS.iter().map(|code| json!({ "code": code })).collect::<Vec<_>>(),
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "full-support",
                "conditionalUpdate": true,
                "conditionalDelete": "single",
                "searchInclude": includes,
                "searchParam": search_params,
            });
            if name == "Patient" {
                resource["operation"] = json!([{
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"
                }]);
            }
            resource
        })
        .collect();
    let mut statement = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": started_at(),
        "publisher": "fhir-server",
        "kind": "instance",
        "software": { "name": "fhir-server", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "FHIR R4 server", "url": request.base },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "application/fhir+xml"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": SYSTEM_INTERACTIONS.iter().map(|code| json!({ "code": code })).collect::<Vec<_>>(),
        }],
    });
    if request.state.auth().is_some() {
        statement["rest"][0]["security"] = smart_auth::http::capability_security(&request.base);
    }
    Ok(FhirResponse::new(StatusCode::OK, Body::Resource(statement)))
}
