//! `GET [base]/Patient/[id]/$everything`: the patient, every resource of its compartment, and
//! the resources they refer to (as `include` entries), paged like a search, with `_since`,
//! `_type` and `_count`.

use fhir_core::search::ParamType;
use fhir_core::search::compartments::compartment_types;
use fhir_core::search::query::{Condition, Include, ParamPath, Prefix, SearchRequest, SearchValue};
use fhir_core::time::parse_range;

use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::interactions::search::{run, search_params, wait_for_pending};
use crate::response::FhirResponse;

pub async fn everything(request: &FhirRequest, id: &str) -> Result<FhirResponse, FhirError> {
    let post = !request.body.is_empty();
    let params = search_params(request, post)?;
    wait_for_pending(request, &params, None).await?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let rights = crate::authz::require(request, "Patient", smart_auth::Op::Read)?;
    match request
        .state
        .store()
        .read(&request.tenant, "Patient", id)
        .await?
    {
        Some(stored) if !stored.deleted => {
            crate::authz::check_stored(request, rights.as_ref(), &stored)?;
        }
        _ => return Err(FhirError::NotFound(format!("Patient/{id} does not exist"))),
    }
    let mut types: Vec<String> = compartment_types("Patient")
        .into_iter()
        .map(str::to_owned)
        .collect();
    if !types.iter().any(|t| t == "Patient") {
        types.push("Patient".into());
    }
    // Only the types the token may search; what is returned is checked again one by one.
    if let Some(access) = &request.access {
        types.retain(|t| crate::authz::rights(access, t, smart_auth::Op::Search).is_ok());
    }
    let mut includes = vec![Include {
        source_type: None,
        param: None,
        target_type: None,
        iterate: false,
    }];
    if let Some(wanted) = param("_type") {
        let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
        for t in &wanted {
            if fhir_core::model::Model::r4().resource_type(t).is_none() {
                return Err(FhirError::BadRequest(format!(
                    "_type: '{t}' is not a resource type"
                )));
            }
        }
        types.retain(|t| wanted.contains(&t.as_str()));
        // Referenced resources are restricted to the same types.
        includes = wanted
            .iter()
            .map(|t| Include {
                source_type: None,
                param: None,
                target_type: Some((*t).to_owned()),
                iterate: false,
            })
            .collect();
    }
    let mut conditions = Vec::new();
    let mut include_since = None;
    if let Some(since) = param("_since") {
        let (start, end) = parse_range(since).ok_or_else(|| {
            FhirError::BadRequest(format!("_since '{since}' is not a FHIR instant"))
        })?;
        include_since = Some(start);
        conditions.push(Condition {
            path: ParamPath::Direct {
                code: "_lastUpdated".into(),
                param_type: ParamType::Date,
                modifier: None,
            },
            values: vec![SearchValue::Date {
                prefix: Prefix::Ge,
                start,
                end,
            }],
        });
    }
    let count = match param("_count") {
        Some(text) => Some(text.parse::<usize>().map_err(|_| {
            FhirError::BadRequest(format!("_count '{text}' is not a non-negative integer"))
        })?),
        None => None,
    };
    let search = SearchRequest {
        types,
        conditions,
        count,
        cursor: param("_cursor").map(str::to_owned),
        compartment: Some(("Patient".into(), id.to_owned())),
        include_once: true,
        include_since,
        includes,
        ..SearchRequest::default()
    };
    let link_params: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "_since" | "_type" | "_count" | "_format" | "_pretty"
            )
        })
        .cloned()
        .collect();
    let path = format!("{}/Patient/{id}/$everything", request.base);
    run(request, search, &path, &link_params, &[]).await
}
