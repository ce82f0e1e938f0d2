//! Transaction Bundles: every write or none.
//!
//! 1. **Prepare** each entry on its own: its url, preconditions, resource or patch, and every
//!    `urn:` it names (in references, patch values and criteria) must be a fullUrl of the Bundle.
//! 2. **Lock** the conditional stripes of every type the transaction writes by criteria
//!    (`ifNoneExist`, conditional PUT/PATCH/DELETE), all at once and in a fixed order ([`ConditionalLocks::lock_many`]), and keep them until the store has
//!    committed: two transactions with the same `ifNoneExist` make one resource.
//! 3. **Resolve** each entry's target: POST a new id (or the `ifNoneExist` match), PUT, PATCH
//!    and DELETE the id of the url or the one match of their criteria. Criteria may name other
//!    entries (`patient=urn:uuid:…`): they are rewritten to `Type/id` first, so entries are
//!    resolved in the order their criteria need; entries that need each other are a cycle, 400.
//!    Conditional references (`Patient?identifier=…`) are resolved after, and must match one.
//! 4. **Check** that no resource is written twice (the spec: identities of DELETE, POST,
//!    PUT/PATCH must not overlap).
//! 5. **Build** the writes in processing order (DELETE, POST, PUT/PATCH): references rewritten,
//!    patches applied to the current version (which becomes the store's precondition), every
//!    resource validated.
//! 6. **Commit** them with [`fhir_core::ResourceStore::transaction`]; the first failing write
//!    fails all, answered at its entry. GET and HEAD entries run after the commit, as single
//!    reads; a failed read is reported in its entry, since the writes are committed by then (a
//!    304 is not a failure).
//!
//! [`ConditionalLocks::lock_many`]: crate::interactions::conditional::ConditionalLocks::lock_many

use std::collections::{HashMap, HashSet};

use axum::http::StatusCode;
use fhir_core::Issue;
use fhir_core::index::Hit;
use fhir_core::model::Model;
use fhir_core::outcome::operation_outcome;
use fhir_core::store::{StoreError, TxDone, TxWrite, UpdateOutcome};
use fhir_core::time::format_instant;
use serde_json::{Value, json};
use smart_auth::Op;

use super::batch::{SubBody, run_entry};
use super::entry::{Entry, EntryMethod};
use super::references::{
    Criteria, SlotKind, check_urns, conditional_reference, rewrite, slots_of_patch,
    slots_of_resource,
};
use super::{Carry, at_entry, entry_of, failed_entry, resource_issues_at, response_bundle};
use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::headers::{ReturnPreference, etag};
use crate::interactions::patch::{self, PatchDocument};
use crate::response::FhirResponse;
use crate::route::is_valid_id;

/// One entry, prepared.
struct Step<'e, 'a> {
    entry: &'e Entry<'a>,
    /// The type of the url (empty for reads of the whole system).
    resource_type: String,
    /// The id of the url (PUT, PATCH or DELETE of an instance).
    url_id: Option<String>,
    /// `ifNoneExist` of a POST, or the query of a conditional write or of a read.
    criteria: Option<Criteria>,
    content: Content,
    /// The conditional references of the content (`Patient?identifier=x`).
    conditional_references: Vec<String>,
    if_match: Option<i64>,
}

enum Content {
    None,
    Resource(Value),
    Patch(PatchDocument),
}

impl Content {
    fn slots(&mut self) -> Vec<(SlotKind, &mut String)> {
        let mut slots = Vec::new();
        match self {
            Content::None => {}
            Content::Resource(resource) => slots_of_resource(resource, &mut slots),
            Content::Patch(document) => slots_of_patch(document, &mut slots),
        }
        slots
    }
}

/// What an entry turned out to be about.
enum Target {
    /// A write of this id.
    Write(String),
    /// An `ifNoneExist` that matched: nothing is written.
    Existing(Hit),
    /// A conditional delete that matched nothing.
    Nothing,
    /// GET or HEAD.
    Read,
}

impl Target {
    fn reference(&self, resource_type: &str) -> Option<String> {
        match self {
            Target::Write(id) => Some(format!("{resource_type}/{id}")),
            Target::Existing(hit) => Some(format!("{resource_type}/{}", hit.id)),
            Target::Nothing | Target::Read => None,
        }
    }
}

/// A write handed to the store, and how to answer its failure.
struct Planned {
    /// The position of the step.
    step: usize,
    /// Its only precondition is the version a patch was applied to: a conflict is a concurrent
    /// change (409), not a failed client precondition.
    patched_from: bool,
    /// `ifNoneMatch: *`: a resource created meanwhile fails the precondition (412).
    create_only: bool,
}

/// Runs a transaction; `resources` are the entries' resources, taken out of the Bundle (the
/// entries' own `resource` is `None`).
pub async fn run(
    request: &FhirRequest,
    entries: &[Entry<'_>],
    resources: Vec<Option<Value>>,
    preference: ReturnPreference,
) -> Result<FhirResponse, FhirError> {
    let full_urls: HashSet<&str> = entries.iter().filter_map(|e| e.full_url).collect();
    let mut steps = entries
        .iter()
        .zip(resources)
        .map(|(entry, resource)| prepare(entry, resource, &full_urls))
        .collect::<Result<Vec<_>, _>>()?;

    // Only writes decided by a search need the lock. Conditional references only read: a
    // concurrent transaction may create their target before or after this one, both are
    // serial orders, and locking their types would serialise every bulk load whose patients
    // refer to `Practitioner?identifier=…`.
    let searched: HashSet<&str> = steps
        .iter()
        .filter(|step| step.criteria.is_some() && !step.entry.method.is_read())
        .map(|step| step.resource_type.as_str())
        .collect();
    let guards = request
        .state
        .conditional_locks()
        .lock_many(&request.tenant, searched)
        .await;

    let (targets, mut aliases) = resolve(request, &steps, &full_urls).await?;
    resolve_conditional_references(request, &steps, &mut aliases).await?;
    refuse_overlaps(&steps, &targets)?;

    let mut order: Vec<usize> = (0..steps.len())
        .filter(|&pos| matches!(targets[pos], Target::Write(_)))
        .collect();
    order.sort_by_key(|&pos| (steps[pos].entry.method.order(), steps[pos].entry.index));
    let mut writes = Vec::with_capacity(order.len());
    let mut planned = Vec::with_capacity(order.len());
    for &pos in &order {
        let Target::Write(id) = &targets[pos] else {
            continue;
        };
        let (write, plan) = build_write(request, &mut steps[pos], pos, id, &aliases).await?;
        writes.push(write);
        planned.push(plan);
    }

    let done = request
        .state
        .store()
        .transaction(&request.tenant, writes)
        .await
        .map_err(|error| match error {
            StoreError::InGroup { index, error } => {
                let plan = &planned[index];
                at_entry(failure(*error, plan), steps[plan.step].entry.index)
            }
            other => FhirError::Store(other),
        })?;
    // Committed: searches of other transactions may go on.
    drop(guards);

    let mut responses = vec![Value::Null; entries.len()];
    for (plan, done) in planned.iter().zip(done) {
        let step = &steps[plan.step];
        responses[step.entry.index] = written_entry(request, step, done, preference);
    }
    for (pos, target) in targets.iter().enumerate() {
        let step = &steps[pos];
        let answer = match target {
            Target::Write(_) => continue,
            Target::Existing(hit) => existing_entry(request, hit, preference),
            Target::Nothing => {
                nothing_entry(preference, "the criteria match nothing; nothing deleted")
            }
            Target::Read => {
                let params = step
                    .criteria
                    .as_ref()
                    .map(|criteria| criteria.rewritten(&aliases).params);
                match run_entry(request, step.entry, params, SubBody::None, preference).await {
                    Ok(response) => entry_of(response, Carry::of(step.entry.method, preference)),
                    Err(error) => failed_entry(error),
                }
            }
        };
        responses[step.entry.index] = answer;
    }
    Ok(response_bundle("transaction-response", responses))
}

/// Reads an entry into a step and checks what can be checked without the store.
fn prepare<'e, 'a>(
    entry: &'e Entry<'a>,
    resource: Option<Value>,
    full_urls: &HashSet<&str>,
) -> Result<Step<'e, 'a>, FhirError> {
    entry.check_preconditions()?;
    let if_match = entry.if_match_version()?;
    if entry.method.is_read() {
        let criteria = entry.query.map(Criteria::parse);
        if let Some(criteria) = &criteria {
            check_urns(entry, criteria.entry_names(full_urls), full_urls)?;
        }
        return Ok(Step {
            entry,
            resource_type: entry
                .segments
                .first()
                .map_or(String::new(), |t| (*t).to_owned()),
            url_id: None,
            criteria,
            content: Content::None,
            conditional_references: Vec::new(),
            if_match,
        });
    }
    let (resource_type, url_id) = match (entry.method, entry.segments.as_slice(), entry.query) {
        (EntryMethod::Post, [t], None) => (*t, None),
        (EntryMethod::Put | EntryMethod::Patch | EntryMethod::Delete, [t], Some(_)) => (*t, None),
        (EntryMethod::Put | EntryMethod::Patch | EntryMethod::Delete, [t, id], None) => {
            (*t, Some(*id))
        }
        _ => {
            return Err(entry.error(format!(
                "'{} {}' is not an interaction of a transaction entry (POST [type], PUT, PATCH or DELETE [type]/[id] or [type]?criteria)",
                entry.method.http(),
                entry.url
            )));
        }
    };
    if Model::r4().resource_type(resource_type).is_none() {
        return Err(entry.error(format!(
            "'{resource_type}' is not a resource type of FHIR R4"
        )));
    }
    if let Some(id) = url_id
        && !is_valid_id(id)
    {
        return Err(entry.error(format!("'{id}' is not a valid id")));
    }
    let criteria = match entry.method {
        EntryMethod::Post => entry.if_none_exist.map(Criteria::parse),
        _ => entry.query.map(Criteria::parse),
    };
    let mut content = match entry.method {
        EntryMethod::Post | EntryMethod::Put => {
            let Some(resource) = resource else {
                return Err(entry.error("the entry has no resource"));
            };
            if resource["resourceType"] != resource_type {
                return Err(entry.error(format!(
                    "the entry's resource is not a {resource_type}, the type of its url"
                )));
            }
            if let (Some(url_id), Some(body_id)) = (url_id, resource["id"].as_str())
                && url_id != body_id
            {
                return Err(entry.error(format!(
                    "the resource's id '{body_id}' differs from the id in the url '{url_id}'"
                )));
            }
            Content::Resource(resource)
        }
        EntryMethod::Patch => Content::Patch(
            PatchDocument::from_entry_resource(resource.as_ref())
                .map_err(|e| at_entry(e, entry.index))?,
        ),
        _ => Content::None,
    };
    let mut named: Vec<String> = Vec::new();
    let mut conditional_references = Vec::new();
    for (kind, text) in content.slots() {
        if kind != SlotKind::Reference {
            continue;
        }
        if let Some((_, query)) = conditional_reference(text) {
            named.extend(
                Criteria::parse(query)
                    .entry_names(full_urls)
                    .into_iter()
                    .map(str::to_owned),
            );
            conditional_references.push(text.clone());
        } else {
            named.push(text.clone());
        }
    }
    if let Some(criteria) = &criteria {
        named.extend(
            criteria
                .entry_names(full_urls)
                .into_iter()
                .map(str::to_owned),
        );
    }
    check_urns(entry, named.iter().map(String::as_str), full_urls)?;
    Ok(Step {
        entry,
        resource_type: resource_type.to_owned(),
        url_id: url_id.map(str::to_owned),
        criteria,
        content,
        conditional_references,
        if_match,
    })
}

/// Every entry's target, resolved in the order its criteria need; and the fullUrls of the
/// entries mapped to their `Type/id`.
async fn resolve(
    request: &FhirRequest,
    steps: &[Step<'_, '_>],
    full_urls: &HashSet<&str>,
) -> Result<(Vec<Target>, HashMap<String, String>), FhirError> {
    let by_full_url: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .filter_map(|(pos, step)| step.entry.full_url.map(|url| (url, pos)))
        .collect();
    let mut aliases: HashMap<String, String> = HashMap::new();
    let mut targets: Vec<Option<Target>> = steps.iter().map(|_| None).collect();
    loop {
        let mut progress = false;
        for (pos, step) in steps.iter().enumerate() {
            if targets[pos].is_some() {
                continue;
            }
            if step.entry.method.is_read() {
                targets[pos] = Some(Target::Read);
                continue;
            }
            let mut waiting = false;
            let names = step
                .criteria
                .as_ref()
                .map(|c| c.entry_names(full_urls))
                .unwrap_or_default();
            for name in names {
                if aliases.contains_key(name) {
                    continue;
                }
                match by_full_url.get(name) {
                    Some(&other) if targets[other].is_none() => waiting = true,
                    _ => {
                        return Err(step.entry.error(format!(
                            "the criteria name '{name}', an entry that stands for no resource (a read, or a conditional delete that matched nothing)"
                        )));
                    }
                }
            }
            if waiting {
                continue;
            }
            let target = resolve_one(request, step, &aliases).await?;
            if let (Some(full_url), Some(reference)) =
                (step.entry.full_url, target.reference(&step.resource_type))
            {
                aliases.insert(full_url.to_owned(), reference);
            }
            targets[pos] = Some(target);
            progress = true;
        }
        if targets.iter().all(Option::is_some) {
            let targets = targets.into_iter().flatten().collect();
            return Ok((targets, aliases));
        }
        if !progress {
            return Err(cycle(steps, &targets));
        }
    }
}

/// 400 naming the entries whose criteria wait for each other.
fn cycle(steps: &[Step<'_, '_>], targets: &[Option<Target>]) -> FhirError {
    let waiting: Vec<&Step> = steps
        .iter()
        .zip(targets)
        .filter(|(_, target)| target.is_none())
        .map(|(step, _)| step)
        .collect();
    let names: Vec<String> = waiting.iter().map(|s| s.entry.location()).collect();
    FhirError::Issues {
        status: StatusCode::BAD_REQUEST,
        issues: waiting
            .iter()
            .map(|step| {
                Issue::at(
                    "invalid",
                    step.entry.location(),
                    format!(
                        "the criteria of this entry need the id of another entry whose criteria need this one's, directly or not: a cycle among {}",
                        names.join(", ")
                    ),
                )
            })
            .collect(),
    }
}

async fn resolve_one(
    request: &FhirRequest,
    step: &Step<'_, '_>,
    aliases: &HashMap<String, String>,
) -> Result<Target, FhirError> {
    let found = match &step.criteria {
        Some(criteria) => Some(
            find(
                request,
                step.entry,
                &step.resource_type,
                &criteria.rewritten(aliases),
            )
            .await?,
        ),
        None => None,
    };
    let new_id = || uuid::Uuid::new_v4().to_string();
    Ok(match (step.entry.method, found) {
        (EntryMethod::Post, Some(Some(hit))) => Target::Existing(hit),
        (EntryMethod::Post, _) => Target::Write(new_id()),
        (_, None) => Target::Write(step.url_id.clone().unwrap_or_else(new_id)),
        (EntryMethod::Put, Some(Some(hit))) => {
            if let Content::Resource(resource) = &step.content
                && let Some(body_id) = resource["id"].as_str()
                && body_id != hit.id
            {
                return Err(step.entry.error(format!(
                    "the resource's id '{body_id}' is not the id of the matching resource '{}'",
                    hit.id
                )));
            }
            Target::Write(hit.id)
        }
        (EntryMethod::Put, Some(None)) => {
            let body_id = match &step.content {
                Content::Resource(resource) => resource["id"].as_str().map(str::to_owned),
                _ => None,
            };
            Target::Write(body_id.unwrap_or_else(new_id))
        }
        (EntryMethod::Delete, Some(None)) => Target::Nothing,
        (EntryMethod::Patch, Some(None)) => {
            return Err(at_entry(
                FhirError::NotFound(format!(
                    "no {} matches the criteria of the PATCH",
                    step.resource_type
                )),
                step.entry.index,
            ));
        }
        (_, Some(Some(hit))) => Target::Write(hit.id),
        (EntryMethod::Get | EntryMethod::Head, Some(None)) => Target::Read,
    })
}

/// The one resource matching criteria (`None` for no match; 412 for several).
async fn find(
    request: &FhirRequest,
    entry: &Entry<'_>,
    resource_type: &str,
    criteria: &Criteria,
) -> Result<Option<Hit>, FhirError> {
    let mut found =
        crate::interactions::conditional::matches(request, resource_type, &criteria.params)
            .await
            .map_err(|error| at_entry(error, entry.index))?;
    match found.len() {
        0 | 1 => Ok(found.pop()),
        _ => Err(FhirError::Issues {
            status: StatusCode::PRECONDITION_FAILED,
            issues: vec![Issue::at(
                "multiple-matches",
                entry.location(),
                format!("the criteria match more than one {resource_type}"),
            )],
        }),
    }
}

/// Conditional references (`Patient?identifier=x`) name exactly one existing resource; the
/// urns in their criteria are rewritten first.
async fn resolve_conditional_references(
    request: &FhirRequest,
    steps: &[Step<'_, '_>],
    aliases: &mut HashMap<String, String>,
) -> Result<(), FhirError> {
    for step in steps {
        for reference in &step.conditional_references {
            if aliases.contains_key(reference) {
                continue;
            }
            let Some((target_type, query)) = conditional_reference(reference) else {
                continue;
            };
            let criteria = Criteria::parse(query).rewritten(aliases);
            let target =
                resolve_reference(request, step.entry, reference, target_type, &criteria).await?;
            aliases.insert(reference.clone(), target);
        }
    }
    Ok(())
}

/// The `Type/id` a conditional reference names: its one match; no match or several fail the
/// entry (412). Transactions and batches resolve their conditional references with it.
pub(super) async fn resolve_reference(
    request: &FhirRequest,
    entry: &Entry<'_>,
    reference: &str,
    target_type: &str,
    criteria: &Criteria,
) -> Result<String, FhirError> {
    match find(request, entry, target_type, criteria).await? {
        Some(hit) => Ok(format!("{target_type}/{}", hit.id)),
        None => Err(FhirError::Issues {
            status: StatusCode::PRECONDITION_FAILED,
            issues: vec![Issue::at(
                "not-found",
                entry.location(),
                format!("the conditional reference '{reference}' matches no resource"),
            )],
        }),
    }
}

/// A transaction writes each resource once (FHIR R4 http.html#trules: the identities of the
/// DELETE, POST and PUT/PATCH entries must not overlap), else the order of the writes would
/// decide the result.
fn refuse_overlaps(steps: &[Step<'_, '_>], targets: &[Target]) -> Result<(), FhirError> {
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    for (step, target) in steps.iter().zip(targets) {
        let Target::Write(id) = target else {
            continue;
        };
        let key = (step.resource_type.as_str(), id.as_str());
        if let Some(first) = seen.insert(key, step.entry.index) {
            let message = format!(
                "{}/{id} is written by Bundle.entry[{first}] and Bundle.entry[{}]; a transaction writes each resource once",
                step.resource_type, step.entry.index
            );
            return Err(FhirError::Issues {
                status: StatusCode::BAD_REQUEST,
                issues: vec![
                    Issue::at("invalid", super::entry::location(first), message.clone()),
                    Issue::at("invalid", step.entry.location(), message),
                ],
            });
        }
    }
    Ok(())
}

/// The store write of one step, with its references rewritten and its resource valid.
async fn build_write(
    request: &FhirRequest,
    step: &mut Step<'_, '_>,
    pos: usize,
    id: &str,
    aliases: &HashMap<String, String>,
) -> Result<(TxWrite, Planned), FhirError> {
    let index = step.entry.index;
    let resource_type = step.resource_type.clone();
    let mut plan = Planned {
        step: pos,
        patched_from: false,
        create_only: step.entry.create_only(),
    };
    rewrite(step.content.slots(), aliases);
    let write = match (step.entry.method, &mut step.content) {
        (EntryMethod::Delete, _) => {
            // Each entry is authorized on its own, against the version it replaces.
            let head =
                crate::authz::check_write_by_id(request, &resource_type, id, Op::Delete, None)
                    .await
                    .map_err(|e| at_entry(e, index))?;
            TxWrite::Delete {
                resource_type,
                id: id.to_owned(),
                if_match: step.if_match.or(head),
            }
        }
        (EntryMethod::Patch, Content::Patch(document)) => {
            let current = patch::current_version(request, &resource_type, id)
                .await
                .map_err(|e| at_entry(e, index))?;
            if let Some(expected) = step.if_match
                && expected != current.version
            {
                return Err(at_entry(
                    FhirError::Store(StoreError::VersionConflict {
                        expected,
                        current: Some(current.version),
                    }),
                    index,
                ));
            }
            crate::authz::check_patch_target(request, &current).map_err(|e| at_entry(e, index))?;
            let resource = patch::apply(request, &current, document).map_err(|e| match e {
                FhirError::Issues { status, issues }
                    if status == StatusCode::UNPROCESSABLE_ENTITY =>
                {
                    resource_issues_at(index, &resource_type, issues)
                }
                other => at_entry(other, index),
            })?;
            crate::authz::check_write(request, &resource_type, Op::Update, None, Some(&resource))
                .map_err(|e| at_entry(e, index))?;
            plan.patched_from = step.if_match.is_none();
            TxWrite::Update {
                resource_type,
                id: id.to_owned(),
                resource,
                if_match: Some(current.version),
            }
        }
        (EntryMethod::Post | EntryMethod::Put, Content::Resource(resource)) => {
            resource["id"] = json!(id);
            let issues = crate::interactions::resource_issues(request, resource);
            if !issues.is_empty() {
                return Err(resource_issues_at(index, &resource_type, issues));
            }
            let checked_version = if step.entry.method == EntryMethod::Post {
                crate::authz::check_write(
                    request,
                    &resource_type,
                    Op::Create,
                    None,
                    Some(resource),
                )
                .map_err(|e| at_entry(e, index))?;
                None
            } else {
                crate::authz::check_write_by_id(
                    request,
                    &resource_type,
                    id,
                    Op::Update,
                    Some(resource),
                )
                .await
                .map_err(|e| at_entry(e, index))?
            };
            let resource = std::mem::take(resource);
            if step.entry.method == EntryMethod::Post {
                TxWrite::Create {
                    resource_type,
                    id: id.to_owned(),
                    resource,
                }
            } else if plan.create_only {
                let head = request
                    .state
                    .store()
                    .read(&request.tenant, &resource_type, id)
                    .await?;
                match crate::interactions::update::only_if_absent(head.as_ref(), &resource_type, id)
                    .map_err(|e| at_entry(e, index))?
                {
                    None => TxWrite::Create {
                        resource_type,
                        id: id.to_owned(),
                        resource,
                    },
                    Some(tombstone) => TxWrite::Update {
                        resource_type,
                        id: id.to_owned(),
                        resource,
                        if_match: Some(tombstone),
                    },
                }
            } else {
                TxWrite::Update {
                    resource_type,
                    id: id.to_owned(),
                    resource,
                    if_match: step.if_match.or(checked_version),
                }
            }
        }
        _ => return Err(step.entry.error("the entry has nothing to write")),
    };
    Ok((write, plan))
}

/// The error of a write that failed in the store.
fn failure(error: StoreError, plan: &Planned) -> FhirError {
    match error {
        StoreError::VersionConflict { .. } if plan.patched_from => patch::changed_meanwhile(error),
        StoreError::AlreadyExists { resource_type, id } if plan.create_only => {
            FhirError::PreconditionFailed(format!(
                "{resource_type}/{id} exists and request.ifNoneMatch is '*'"
            ))
        }
        StoreError::VersionConflict { .. } if plan.create_only => FhirError::PreconditionFailed(
            "the resource was created meanwhile and request.ifNoneMatch is '*'".into(),
        ),
        other => FhirError::Store(other),
    }
}

/// The response entry of a committed write.
fn written_entry(
    request: &FhirRequest,
    step: &Step<'_, '_>,
    done: TxDone,
    preference: ReturnPreference,
) -> Value {
    let TxDone::Stored(UpdateOutcome { resource, created }) = done else {
        return nothing_entry(preference, "the resource does not exist; nothing deleted");
    };
    let deleted = step.entry.method == EntryMethod::Delete;
    let (status, verb) = match (deleted, created, step.entry.method) {
        (true, _, _) => ("204 No Content", "deleted"),
        (_, true, _) => ("201 Created", "created"),
        (_, _, EntryMethod::Patch) => ("200 OK", "patched"),
        _ => ("200 OK", "updated"),
    };
    let mut entry = json!({
        "response": {
            "status": status,
            "location": format!("{}/{}/{}/_history/{}", request.base, resource.resource_type, resource.id, resource.version),
            "etag": etag(resource.version),
            "lastModified": format_instant(resource.last_updated),
        }
    });
    match preference {
        ReturnPreference::Representation if !deleted => {
            if let Ok(body) = fhir_core::json::parse(resource.body.as_bytes()) {
                entry["resource"] = body;
            }
        }
        ReturnPreference::OperationOutcome => {
            entry["response"]["outcome"] =
                information(format!("{verb} {}/{}", resource.resource_type, resource.id));
        }
        _ => {}
    }
    entry
}

/// The response entry of an `ifNoneExist` that matched.
fn existing_entry(request: &FhirRequest, hit: &Hit, preference: ReturnPreference) -> Value {
    let mut entry = json!({
        "response": {
            "status": "200 OK",
            "location": format!("{}/{}/{}/_history/{}", request.base, hit.resource_type, hit.id, hit.version),
            "etag": etag(hit.version),
            "lastModified": format_instant(hit.last_updated),
        }
    });
    match preference {
        ReturnPreference::Representation => {
            if let Ok(body) = fhir_core::json::parse(hit.body.as_bytes()) {
                entry["resource"] = body;
            }
        }
        ReturnPreference::OperationOutcome => {
            entry["response"]["outcome"] = information(format!(
                "{}/{} matches ifNoneExist; nothing created",
                hit.resource_type, hit.id
            ));
        }
        ReturnPreference::Minimal => {}
    }
    entry
}

fn nothing_entry(preference: ReturnPreference, message: &str) -> Value {
    let mut entry = json!({ "response": { "status": "204 No Content" } });
    if preference == ReturnPreference::OperationOutcome {
        entry["response"]["outcome"] = information(message.to_owned());
    }
    entry
}

fn information(message: String) -> Value {
    operation_outcome(&[Issue::information("informational", message)])
}
