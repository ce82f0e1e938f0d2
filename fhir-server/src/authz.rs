//! Access control: what a verified token may do. Effective rights are the token's scopes ∩ its
//! user's role ∩ its tenant (the tenant is already fixed by the token's audience).
//!
//! - **Type and operation**: a scope must grant the operation on the type (`patient/` and
//!   `user/` scopes for a user, `system/` for a backend service), and the user's role must
//!   allow it (see `smart_auth::roles`). Otherwise 403.
//! - **Patient compartment**: a patient user is always limited to their own Patient's
//!   compartment; a staff user only through `patient/` scopes (when no `user/` scope grants the
//!   same), to the launch patient. A token that would need a patient and has none is refused.
//!   Reads of resources outside the compartment answer 404, as if they did not exist; searches
//!   become compartment searches; included resources outside it are dropped; writes must leave
//!   the resource in it. Types that hold no patient's data (the directory, forms: `SHARED` in
//!   `smart_auth::roles`) can be read under a patient limit, never written.
//! - **Granular scopes** (`patient/Observation.rs?category=…`): their search parameters are
//!   added to every search of the type and checked on every resource read or written.
//!
//! Every function is a no-op when authorization is off (`request.access` is `None`).

use fhir_core::search::compartments::compartment_params;
use fhir_core::search::query::{Condition, ParamPath, SearchRequest};
use fhir_core::search::{IndexValue, ParamType};
use serde_json::Value;
use smart_auth::scopes::Permission;
use smart_auth::{Access, Context, Op, Role};

use crate::context::FhirRequest;
use crate::error::FhirError;
use crate::interactions::parse_stored;

/// What one token may do with one type and operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rights {
    /// Limited to this patient's compartment.
    pub patient: Option<String>,
    /// Granular constraints: sets of search parameters, one of which a resource must match.
    pub constraints: Vec<Vec<(String, String)>>,
}

/// The rights of `access` for `op` on `resource_type`, or the reason there are none.
pub fn rights(access: &Access, resource_type: &str, op: Op) -> Result<Rights, FhirError> {
    let forbidden = || {
        FhirError::Forbidden(format!(
            "the access token does not allow {} on {resource_type}",
            op_name(op)
        ))
    };
    let permission = match access.role() {
        None => access
            .scopes
            .permission(&[Context::System], resource_type, op)
            .map(|p| (p, None)),
        Some(role) => {
            if !role.allows(resource_type, op) {
                return Err(forbidden());
            }
            let own_patient = access
                .user
                .as_ref()
                .filter(|u| u.role == Role::Patient)
                .and_then(|u| u.fhir_user.as_deref())
                .and_then(|r| r.strip_prefix("Patient/"));
            let user_scope = access
                .scopes
                .permission(&[Context::User], resource_type, op);
            let patient_scope = access
                .scopes
                .permission(&[Context::Patient], resource_type, op);
            match (role, user_scope, patient_scope) {
                // A patient user: whatever the scope says, only their own compartment.
                (Role::Patient, user_scope, patient_scope) => {
                    let permission = merge(user_scope, patient_scope);
                    let Some(patient) = own_patient.or(access.patient.as_deref()) else {
                        return Err(FhirError::Forbidden(
                            "a patient's token without a patient cannot read anything".into(),
                        ));
                    };
                    permission.map(|p| (p, Some(patient.to_owned())))
                }
                (_, Some(user_scope), _) => Some((user_scope, None)),
                (_, None, Some(patient_scope)) => {
                    let Some(patient) = access.patient.as_deref() else {
                        return Err(FhirError::Forbidden(
                            "patient/ scopes need a patient in context, and this token has none"
                                .into(),
                        ));
                    };
                    Some((patient_scope, Some(patient.to_owned())))
                }
                (_, None, None) => None,
            }
        }
    };
    let (permission, patient) = permission.ok_or_else(forbidden)?;
    // Types that hold no patient's data are not limited by a compartment, but only readable.
    let patient = match patient {
        Some(_) if !in_patient_compartment_type(resource_type) => {
            if matches!(op, Op::Read | Op::Search) {
                None
            } else {
                return Err(forbidden());
            }
        }
        other => other,
    };
    Ok(Rights {
        patient,
        constraints: match permission {
            Permission::Unconstrained => Vec::new(),
            Permission::Constrained(sets) => sets,
        },
    })
}

/// Joins the permissions of two kinds of scope (a patient user may hold both).
fn merge(a: Option<Permission>, b: Option<Permission>) -> Option<Permission> {
    match (a, b) {
        (None, other) | (other, None) => other,
        (Some(Permission::Unconstrained), _) | (_, Some(Permission::Unconstrained)) => {
            Some(Permission::Unconstrained)
        }
        (Some(Permission::Constrained(mut a)), Some(Permission::Constrained(b))) => {
            a.extend(b);
            Some(Permission::Constrained(a))
        }
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Create => "create",
        Op::Read => "read",
        Op::Update => "update",
        Op::Delete => "delete",
        Op::Search => "search",
    }
}

/// `true` for the Patient type and the types of the Patient compartment.
pub fn in_patient_compartment_type(resource_type: &str) -> bool {
    resource_type == "Patient" || compartment_params("Patient", resource_type).is_some()
}

/// Checks the type-level right before anything is read; returns the rights, or `None` when
/// authorization is off.
pub fn require(
    request: &FhirRequest,
    resource_type: &str,
    op: Op,
) -> Result<Option<Rights>, FhirError> {
    match &request.access {
        None => Ok(None),
        Some(access) => rights(access, resource_type, op).map(Some),
    }
}

/// `true` when a resource may be seen with `rights`: in the patient's compartment when limited
/// to one, and matching the granular constraints.
pub fn visible(
    request: &FhirRequest,
    rights: &Rights,
    resource_type: &str,
    resource: &Value,
) -> bool {
    if let Some(patient) = &rights.patient
        && !in_compartment(request, patient, resource_type, resource)
    {
        return false;
    }
    rights.constraints.is_empty()
        || rights
            .constraints
            .iter()
            .any(|set| matches_constraints(request, resource_type, set, resource))
}

/// Whether `resource` is in `Patient/{patient}`'s compartment.
pub fn in_compartment(
    request: &FhirRequest,
    patient: &str,
    resource_type: &str,
    resource: &Value,
) -> bool {
    if resource_type == "Patient" {
        return resource.get("id").and_then(Value::as_str) == Some(patient);
    }
    let Some(params) = compartment_params("Patient", resource_type) else {
        return false;
    };
    let extractor = request.state.index().extractor(&request.tenant);
    params.iter().any(|param| {
        extractor
            .extract_param(resource_type, param, resource)
            .iter()
            .any(|value| match value {
                IndexValue::Reference {
                    resource_type: target,
                    id: Some(id),
                    ..
                } => id == patient && target.as_deref().is_none_or(|t| t == "Patient"),
                _ => false,
            })
    })
}

/// Whether a resource matches every search parameter of a constraint set (the same semantics
/// as a search: the values are extracted by the search parameters and matched exactly).
fn matches_constraints(
    request: &FhirRequest,
    resource_type: &str,
    set: &[(String, String)],
    resource: &Value,
) -> bool {
    let Ok(conditions) = constraint_conditions(request, resource_type, set) else {
        return false;
    };
    let extractor = request.state.index().extractor(&request.tenant);
    conditions.iter().all(|condition| match &condition.path {
        ParamPath::Direct {
            code,
            param_type,
            modifier,
        } => {
            let indexed = extractor.extract_param(resource_type, code, resource);
            fhir_core::search::matching::matches_condition(
                *param_type,
                modifier.as_ref(),
                &condition.values,
                &indexed,
            )
        }
        // Chains and reverse chains cannot be decided on one resource: never granted.
        _ => false,
    })
}

/// The conditions of a constraint set, parsed like search parameters; only direct parameters of
/// the type with exact semantics (token, string, reference, uri) are accepted.
fn constraint_conditions(
    request: &FhirRequest,
    resource_type: &str,
    set: &[(String, String)],
) -> Result<Vec<Condition>, FhirError> {
    let extractor = request.state.index().extractor(&request.tenant);
    let parsed =
        fhir_core::search::query::parse(&[resource_type.to_owned()], set, extractor.registry());
    let unusable = || {
        FhirError::Forbidden(format!(
            "the granular scope on {resource_type} ({set:?}) cannot be enforced"
        ))
    };
    if !parsed.problems.is_empty() {
        return Err(unusable());
    }
    for condition in &parsed.request.conditions {
        let ParamPath::Direct { param_type, .. } = &condition.path else {
            return Err(unusable());
        };
        if !matches!(
            param_type,
            ParamType::Token | ParamType::String | ParamType::Reference | ParamType::Uri
        ) {
            return Err(unusable());
        }
    }
    Ok(parsed.request.conditions)
}

/// Limits a parsed search to what the token may see: refuses types it may not search, makes it
/// a compartment search under a patient limit, adds the granular constraints, and refuses
/// chains and reverse chains through types it may not search (no `_has` oracles).
pub fn narrow_search(request: &FhirRequest, search: &mut SearchRequest) -> Result<(), FhirError> {
    let Some(access) = &request.access else {
        return Ok(());
    };
    if search.types.is_empty() {
        // A system search over every type: only for a token that may search everything.
        let everything = access.role() == Some(Role::Admin) || access.role().is_none();
        let unlimited = rights(access, "Patient", Op::Search)
            .is_ok_and(|r| r.patient.is_none() && r.constraints.is_empty());
        if !(everything && unlimited) {
            return Err(FhirError::Forbidden(
                "a search across all types needs _type with the types the token may search".into(),
            ));
        }
        check_paths(access, &search.conditions)?;
        return Ok(());
    }
    let mut patient: Option<String> = None;
    let mut constraint_sets: Option<Vec<Vec<(String, String)>>> = None;
    for resource_type in &search.types {
        let rights = rights(access, resource_type, Op::Search)?;
        if let Some(limit) = &rights.patient {
            if patient.as_ref().is_some_and(|p| p != limit) {
                return Err(FhirError::Forbidden("conflicting patient limits".into()));
            }
            patient = Some(limit.clone());
        }
        if !rights.constraints.is_empty() {
            if search.types.len() > 1 {
                return Err(FhirError::Forbidden(format!(
                    "granular scopes on {resource_type} apply to searches of that type alone"
                )));
            }
            constraint_sets = Some(rights.constraints);
        }
    }
    if let Some(patient) = &patient {
        match &search.compartment {
            Some((kind, id)) if kind == "Patient" && id == patient => {}
            Some((kind, id)) if kind == "Patient" => {
                return Err(FhirError::NotFound(format!("Patient/{id} does not exist")));
            }
            Some(_) => {
                return Err(FhirError::Forbidden(
                    "only the patient's own compartment can be searched".into(),
                ));
            }
            None => {
                if search.types.iter().all(|t| in_patient_compartment_type(t)) {
                    search.compartment = Some(("Patient".into(), patient.clone()));
                } else if search.types.iter().any(|t| in_patient_compartment_type(t)) {
                    return Err(FhirError::Forbidden(
                        "a search under a patient's token cannot mix the patient's data with other types".into(),
                    ));
                }
            }
        }
    }
    // A token limited to one patient reads shared types (the directory) without a compartment;
    // `_has` from them would ask questions about every patient's data.
    let patient_token = access.role() == Some(Role::Patient)
        || (access.scopes.has_context(Context::Patient)
            && !access.scopes.has_context(Context::User));
    if patient_token
        && search
            .conditions
            .iter()
            .any(|c| matches!(c.path, ParamPath::Has { .. }))
        && !search.types.iter().all(|t| in_patient_compartment_type(t))
    {
        return Err(FhirError::Forbidden(
            "_has on resources outside the patient's compartment is not allowed".into(),
        ));
    }
    check_paths(access, &search.conditions)?;
    if let Some(sets) = constraint_sets {
        let resource_type = search.types[0].clone();
        search
            .conditions
            .extend(constraint_condition(request, &resource_type, &sets)?);
    }
    Ok(())
}

/// The conditions that express "matches one of these sets": one set → its conditions; several
/// sets of the same single parameter → one condition with every value (OR).
fn constraint_condition(
    request: &FhirRequest,
    resource_type: &str,
    sets: &[Vec<(String, String)>],
) -> Result<Vec<Condition>, FhirError> {
    if let [set] = sets {
        return constraint_conditions(request, resource_type, set);
    }
    let first = &sets[0];
    let same_param = sets
        .iter()
        .all(|set| set.len() == 1 && first.len() == 1 && set[0].0 == first[0].0);
    if !same_param {
        return Err(FhirError::Forbidden(format!(
            "the granular scopes on {resource_type} use different parameters and cannot be combined in one search"
        )));
    }
    let mut conditions = Vec::new();
    for set in sets {
        conditions.extend(constraint_conditions(request, resource_type, set)?);
    }
    let mut merged = conditions.remove(0);
    for condition in conditions {
        merged.values.extend(condition.values);
    }
    Ok(vec![merged])
}

/// Chains and reverse chains read other types: each must be searchable by the token.
fn check_paths(access: &Access, conditions: &[Condition]) -> Result<(), FhirError> {
    fn walk(access: &Access, path: &ParamPath) -> Result<(), FhirError> {
        match path {
            ParamPath::Direct { .. } => Ok(()),
            ParamPath::Chain {
                target_types, next, ..
            } => {
                for target in target_types {
                    rights(access, target, Op::Search)?;
                }
                walk(access, next)
            }
            ParamPath::Has {
                resource_type,
                next,
                ..
            } => {
                let rights = rights(access, resource_type, Op::Search)?;
                if !rights.constraints.is_empty() {
                    return Err(FhirError::Forbidden(format!(
                        "_has through {resource_type} is not allowed with granular scopes"
                    )));
                }
                walk(access, next)
            }
        }
    }
    for condition in conditions {
        walk(access, &condition.path)?;
    }
    Ok(())
}

/// Checks a write: the type-level right, and that both the stored version (if any) and the new
/// one are within the token's reach. A stored version out of reach answers 404 (its existence
/// is not revealed); a new version out of reach answers 403.
pub fn check_write(
    request: &FhirRequest,
    resource_type: &str,
    op: Op,
    current: Option<&Value>,
    new: Option<&Value>,
) -> Result<(), FhirError> {
    let Some(rights) = require(request, resource_type, op)? else {
        return Ok(());
    };
    if let Some(current) = current
        && !visible(request, &rights, resource_type, current)
    {
        let id = current
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(FhirError::NotFound(format!(
            "{resource_type}/{id} does not exist"
        )));
    }
    if let Some(new) = new
        && !visible(request, &rights, resource_type, new)
    {
        return Err(FhirError::Forbidden(match &rights.patient {
            Some(patient) => format!(
                "the {resource_type} would not be in the compartment of Patient/{patient} (or not within the granted scopes)"
            ),
            None => format!("the {resource_type} would not be within the granted scopes"),
        }));
    }
    Ok(())
}

/// `true` when a stored body (of a search hit, an included resource, a history entry) may be
/// shown; `true` when authorization is off.
pub fn may_show(request: &FhirRequest, resource_type: &str, body: &str) -> bool {
    let Some(access) = &request.access else {
        return true;
    };
    let Ok(rights) = rights(access, resource_type, Op::Read) else {
        return false;
    };
    if rights.patient.is_none() && rights.constraints.is_empty() {
        return true;
    }
    fhir_core::json::parse(body.as_bytes())
        .is_ok_and(|resource| visible(request, &rights, resource_type, &resource))
}

/// Checks a write by id (update, patch, delete) against the stored head: the type-level right
/// (`Create` when the resource does not exist yet), the head's visibility (404) and the new
/// version's (403). Returns the head's version when the caller did not ask for one, to be used
/// as the store's precondition, so that a concurrent change cannot slip past the check.
pub async fn check_write_by_id(
    request: &FhirRequest,
    resource_type: &str,
    id: &str,
    op: Op,
    new: Option<&Value>,
) -> Result<Option<i64>, FhirError> {
    let Some(access) = &request.access else {
        return Ok(None);
    };
    // Unlimited rights to write the type (and to create it, for a PUT that may create) do not
    // depend on what is stored: no read on this path.
    let unlimited = |op| {
        rights(access, resource_type, op)
            .is_ok_and(|r| r.patient.is_none() && r.constraints.is_empty())
    };
    if unlimited(op) && (op == Op::Delete || unlimited(Op::Create)) {
        return Ok(None);
    }
    let head = request
        .state
        .store()
        .read(&request.tenant, resource_type, id)
        .await?
        .filter(|head| !head.deleted);
    let Some(head) = head else {
        if op == Op::Delete {
            require(request, resource_type, op)?;
        } else {
            check_write(request, resource_type, Op::Create, None, new)?;
        }
        return Ok(None);
    };
    let current = parse_stored(&head.body)?;
    check_write(request, resource_type, op, Some(&current), new)?;
    Ok(Some(head.version))
}

/// Checks the stored version a PATCH applies to: within reach (404 otherwise), checked before
/// the patch is applied so that its errors reveal nothing. The patched resource is then checked
/// with [`check_write`] (403: a PATCH may not move a resource out of reach).
pub fn check_patch_target(
    request: &FhirRequest,
    current: &fhir_core::store::StoredResource,
) -> Result<(), FhirError> {
    let rights = require(request, &current.resource_type, Op::Update)?;
    check_stored(request, rights.as_ref(), current)
}

/// Checks a stored version about to be answered by a read or vread: 404 when it is out of
/// reach, and for a deleted version when the rights are limited (a tombstone has no body to
/// decide on, and 410 would reveal that it existed).
pub fn check_stored(
    request: &FhirRequest,
    rights: Option<&Rights>,
    stored: &fhir_core::store::StoredResource,
) -> Result<(), FhirError> {
    let Some(rights) = rights else {
        return Ok(());
    };
    let not_found = || {
        FhirError::NotFound(format!(
            "{}/{} does not exist",
            stored.resource_type, stored.id
        ))
    };
    if rights.patient.is_none() && rights.constraints.is_empty() {
        return Ok(());
    }
    if stored.deleted {
        return Err(not_found());
    }
    let resource = parse_stored(&stored.body)?;
    if visible(request, rights, &stored.resource_type, &resource) {
        Ok(())
    } else {
        Err(not_found())
    }
}
