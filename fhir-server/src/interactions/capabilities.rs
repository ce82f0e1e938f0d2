//! `GET [base]/metadata`: the CapabilityStatement, generated from what this server implements.
//!
//! The lists below are the single source of what is advertised; when an interaction is added to
//! [`crate::route`], it is added here too (the tests check that every advertised interaction
//! answers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use axum::http::StatusCode;
use fhir_core::model::{FHIR_VERSION, Model};
use fhir_core::search::ParamType;
use fhir_core::search::extract::Extractor;
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

/// The rendered statements (compact JSON), per tenant and base. A statement depends on the
/// tenant's registry (which a SearchParameter write replaces: a new [`Extractor`], so the entry
/// is rebuilt when the tenant's current extractor is not the one it was made from), the base
/// (from `--base-url` or the Host header) and whether authorization is on (fixed per process).
/// Bases come from clients, so the cache is bounded: it is emptied when it is full.
#[derive(Debug, Default)]
pub struct CapabilityCache {
    entries: Mutex<HashMap<(String, String), Cached>>,
}

#[derive(Debug)]
struct Cached {
    /// The extractor the statement was rendered from; weak, so that a replaced registry is not
    /// kept alive, and its address is not reused while this entry exists.
    extractor: Weak<Extractor>,
    json: Arc<str>,
}

/// Most (tenant, base) pairs kept; a statement is about 500 kB.
const CACHE_ENTRIES: usize = 16;

impl CapabilityCache {
    fn get(&self, tenant: &str, base: &str, extractor: &Arc<Extractor>) -> Option<Arc<str>> {
        let entries = self.entries.lock().ok()?;
        let cached = entries.get(&(tenant.to_owned(), base.to_owned()))?;
        std::ptr::eq(cached.extractor.as_ptr(), Arc::as_ptr(extractor)).then(|| cached.json.clone())
    }

    fn put(&self, tenant: &str, base: &str, extractor: &Arc<Extractor>, json: Arc<str>) {
        if let Ok(mut entries) = self.entries.lock() {
            let key = (tenant.to_owned(), base.to_owned());
            if entries.len() >= CACHE_ENTRIES && !entries.contains_key(&key) {
                entries.clear();
            }
            entries.insert(
                key,
                Cached {
                    extractor: Arc::downgrade(extractor),
                    json,
                },
            );
        }
    }
}

pub fn capabilities(request: &FhirRequest) -> Result<FhirResponse, FhirError> {
    // The tenant's registry: the official parameters plus the tenant's own.
    let extractor = request.state.index().extractor(&request.tenant);
    let cache = request.state.capability_cache();
    let json = match cache.get(&request.tenant, &request.base, &extractor) {
        Some(json) => json,
        None => {
            let json: Arc<str> = fhir_core::json::to_string(&statement(request, &extractor)).into();
            cache.put(&request.tenant, &request.base, &extractor, json.clone());
            json
        }
    };
    Ok(FhirResponse::new(StatusCode::OK, Body::Stored(json)))
}

/// Builds the statement of the request's tenant and base.
fn statement(request: &FhirRequest, extractor: &Extractor) -> Value {
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
    statement
}
