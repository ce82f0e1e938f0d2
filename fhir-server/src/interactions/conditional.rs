//! Conditional create (`If-None-Exist`), conditional update (`PUT [type]?criteria`) and
//! conditional delete (`DELETE [type]?criteria`): the criteria are a search; several matches
//! give 412. (Conditional patch is in `patch.rs`; transaction Bundles take several stripes at
//! once with [`ConditionalLocks::lock_many`].)
//!
//! Two identical conditional creates sent at once must make one resource. Each conditional
//! interaction holds the lock of its (tenant, type) stripe from its search to the end of its
//! write; since a search makes every acknowledged write visible first, the second request sees
//! the first one's resource. The lock is per process: several server nodes on one PostgreSQL
//! database do not share it.

use std::hash::{Hash, Hasher};

use axum::http::StatusCode;
use axum::http::header::LOCATION;
use fhir_core::index::Hit;
use fhir_core::search::query::{Condition, ParseProblem};

use super::{resource_from_body, version_url, write_response};
use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::headers::if_match;
use crate::interactions::search::parse_request;
use crate::response::FhirResponse;

/// Stripes of locks for conditional interactions.
#[derive(Debug)]
pub struct ConditionalLocks {
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl Default for ConditionalLocks {
    fn default() -> Self {
        ConditionalLocks {
            stripes: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }
}

impl ConditionalLocks {
    /// Locks the stripe of a tenant's type.
    pub async fn lock(&self, tenant: &str, resource_type: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.stripes[self.stripe(tenant, resource_type)]
            .lock()
            .await
    }

    /// Locks the stripes of several types of a tenant (a transaction Bundle's searches). The
    /// stripes are taken in ascending order, each once, and all before any search: two
    /// holders of several stripes can then never wait for each other in a cycle.
    pub async fn lock_many<'a>(
        &self,
        tenant: &str,
        resource_types: impl IntoIterator<Item = &'a str>,
    ) -> Vec<tokio::sync::MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = resource_types
            .into_iter()
            .map(|resource_type| self.stripe(tenant, resource_type))
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            guards.push(self.stripes[stripe].lock().await);
        }
        guards
    }

    fn stripe(&self, tenant: &str, resource_type: &str) -> usize {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (tenant, resource_type).hash(&mut hasher);
        (hasher.finish() % self.stripes.len() as u64) as usize
    }
}

/// The matches of criteria given as a query string (at most 2: one is enough to know).
pub(crate) async fn matches(
    request: &FhirRequest,
    resource_type: &str,
    params: &[(String, String)],
) -> Result<Vec<Hit>, FhirError> {
    let search_params: Vec<(String, String)> = params
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "_format" | "_pretty"))
        .cloned()
        .collect();
    if search_params.is_empty() {
        return Err(FhirError::BadRequest(
            "a conditional interaction needs search criteria".into(),
        ));
    }
    // Criteria on the type alone read nothing else, so only writes of that type must be
    // visible; chains and `_has` read other types.
    let single_type = [resource_type.to_owned()];
    let reads_other_types = search_params
        .iter()
        .any(|(name, _)| name.contains('.') || name.starts_with("_has"));
    let only_types = (!reads_other_types).then_some(&single_type[..]);
    crate::interactions::search::wait_for_pending(request, &search_params, only_types).await?;
    let (search, problems) = parse_request(request, &[resource_type.to_owned()], &search_params)?;
    // Ignoring a criterion would widen the match: every problem is refused here.
    refuse(&problems)?;
    let conditions: Vec<Condition> = search.conditions;
    if conditions.is_empty() {
        return Err(FhirError::BadRequest(
            "a conditional interaction needs search criteria".into(),
        ));
    }
    // Under a token limited to a patient or to granular scopes, matches out of its reach must
    // neither be touched nor counted (a 412 for "several" would reveal them): candidates are
    // checked one by one, up to a bound.
    let rights = crate::authz::require(request, resource_type, smart_auth::Op::Search)?;
    let limited = rights
        .as_ref()
        .is_some_and(|r| r.patient.is_some() || !r.constraints.is_empty());
    let limit = if limited { LIMITED_CANDIDATES } else { 2 };
    let mut found = request
        .state
        .index()
        .find(&request.tenant, resource_type, conditions, limit)
        .await
        .map_err(|e| FhirError::BadRequest(e.to_string()))?;
    if limited {
        if found.len() >= LIMITED_CANDIDATES {
            return Err(FhirError::PreconditionFailed(format!(
                "the criteria match too many {resource_type} resources to decide under this token; make them more selective"
            )));
        }
        found.retain(|hit| crate::authz::may_show(request, &hit.resource_type, &hit.body));
        found.truncate(2);
    }
    Ok(found)
}

/// How many matches of conditional criteria are checked one by one under limited rights.
const LIMITED_CANDIDATES: usize = 1000;

fn refuse(problems: &[ParseProblem]) -> Result<(), FhirError> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(FhirError::Issues {
        status: StatusCode::BAD_REQUEST,
        issues: problems
            .iter()
            .map(|p| fhir_core::Issue::at("invalid", p.param.clone(), p.message.clone()))
            .collect(),
    })
}

fn multiple(resource_type: &str) -> FhirError {
    FhirError::PreconditionFailed(format!("the criteria match more than one {resource_type}"))
}

/// Conditional create: `If-None-Exist: identifier=x`. `None` when there is no header.
pub async fn create_if_none_exist(
    request: &FhirRequest,
    resource_type: &str,
) -> Result<Option<FhirResponse>, FhirError> {
    let Some(header) = request.headers.get("if-none-exist") else {
        return Ok(None);
    };
    let criteria = header
        .to_str()
        .map_err(|_| FhirError::BadRequest("If-None-Exist is not text".into()))?;
    // Accept `identifier=x`, `?identifier=x` and `Patient?identifier=x`.
    let query = criteria.split_once('?').map_or(criteria, |(_, q)| q);
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let resource = resource_from_body(request, resource_type, None)?;
    let _guard = request
        .state
        .conditional_locks()
        .lock(&request.tenant, resource_type)
        .await;
    let found = matches(request, resource_type, &params).await?;
    match found.as_slice() {
        [] => {
            crate::authz::check_write(
                request,
                resource_type,
                smart_auth::Op::Create,
                None,
                Some(&resource),
            )?;
            Ok(Some(
                super::create::store_new(request, resource_type, resource).await?,
            ))
        }
        [existing] => {
            let stored = request
                .state
                .store()
                .read(&request.tenant, resource_type, &existing.id)
                .await?
                .ok_or_else(|| {
                    FhirError::Conflict(format!(
                        "{resource_type}/{} changed meanwhile",
                        existing.id
                    ))
                })?;
            let location = version_url(request, &stored);
            Ok(Some(
                write_response(
                    request,
                    StatusCode::OK,
                    &stored,
                    format!(
                        "{resource_type}/{} matches If-None-Exist; nothing created",
                        existing.id
                    ),
                )
                .header(LOCATION, &location),
            ))
        }
        _ => Err(multiple(resource_type)),
    }
}

/// `PUT [base]/[type]?criteria`.
pub async fn update(request: &FhirRequest, resource_type: &str) -> Result<FhirResponse, FhirError> {
    let expected_version = if_match(&request.headers)?;
    let resource = resource_from_body(request, resource_type, None)?;
    let body_id = resource
        .get("id")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let _guard = request
        .state
        .conditional_locks()
        .lock(&request.tenant, resource_type)
        .await;
    let found = matches(request, resource_type, &request.params).await?;
    let id = match (found.as_slice(), body_id) {
        ([], Some(id)) => id,
        ([], None) => uuid::Uuid::new_v4().to_string(),
        ([existing], Some(id)) if id != existing.id => {
            return Err(FhirError::BadRequest(format!(
                "the body's id '{id}' is not the id of the matching resource '{}'",
                existing.id
            )));
        }
        ([existing], _) => existing.id.clone(),
        _ => return Err(multiple(resource_type)),
    };
    let mut resource = resource;
    if let Some(object) = resource.as_object_mut() {
        object.insert("id".into(), serde_json::Value::String(id.clone()));
    }
    let head = crate::authz::check_write_by_id(
        request,
        resource_type,
        &id,
        smart_auth::Op::Update,
        Some(&resource),
    )
    .await?;
    let expected_version = expected_version.or(head);
    let outcome = request
        .state
        .store()
        .update(
            &request.tenant,
            resource_type,
            &id,
            resource,
            expected_version,
        )
        .await?;
    Ok(super::update::updated(request, &outcome))
}

/// `DELETE [base]/[type]?criteria`: deletes the one match; no match changes nothing (204).
pub async fn delete(request: &FhirRequest, resource_type: &str) -> Result<FhirResponse, FhirError> {
    let _guard = request
        .state
        .conditional_locks()
        .lock(&request.tenant, resource_type)
        .await;
    let found = matches(request, resource_type, &request.params).await?;
    match found.as_slice() {
        [] => super::delete::delete_none(request, resource_type),
        [existing] => super::delete::delete(request, resource_type, &existing.id.clone()).await,
        _ => Err(multiple(resource_type)),
    }
}

#[cfg(test)]
mod tests {
    use super::ConditionalLocks;

    /// A type named twice is one stripe taken once (a second lock of the same mutex would wait
    /// forever), and holders of several stripes taken in any order of types all finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn several_stripes_are_taken_once_each_in_a_fixed_order() {
        let locks = std::sync::Arc::new(ConditionalLocks::default());
        let guards = locks
            .lock_many("t", ["Patient", "Patient", "Observation"])
            .await;
        assert!(!guards.is_empty() && guards.len() <= 2);
        drop(guards);
        let tasks: Vec<_> = (0..16)
            .map(|n| {
                let locks = locks.clone();
                tokio::spawn(async move {
                    let types = if n % 2 == 0 {
                        ["Patient", "Observation", "Encounter"]
                    } else {
                        ["Encounter", "Observation", "Patient"]
                    };
                    let _guards = locks.lock_many("t", types).await;
                    tokio::task::yield_now().await;
                })
            })
            .collect();
        let all = async {
            for task in tasks {
                task.await.unwrap();
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), all)
            .await
            .expect("no deadlock");
    }
}
