//! FHIR routing: from a path below the tenant's base and a method to an [`Interaction`].
//!
//! Routing is done here rather than with axum's router so that every miss (unknown type,
//! unknown path, wrong method) becomes an OperationOutcome with the right status, and so that
//! path segments are checked before anything is decoded.

use axum::http::Method;
use fhir_core::model::Model;

use crate::error::FhirError;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    /// `GET [base]/metadata`.
    Capabilities,
    /// `GET [base]/_history`.
    HistorySystem,
    /// `GET [base]/[type]/_history`.
    HistoryType(String),
    /// `GET [base]/[type]/[id]/_history`.
    HistoryInstance(String, String),
    /// `POST [base]/[type]`.
    Create(String),
    /// `GET [base]/[type]/[id]`.
    Read(String, String),
    /// `GET [base]/[type]/[id]/_history/[vid]`.
    Vread(String, String, i64),
    /// `PUT [base]/[type]/[id]`.
    Update(String, String),
    /// `DELETE [base]/[type]/[id]`.
    Delete(String, String),
    /// Search: `GET [base]/[type]`, `POST [base]/[type]/_search`, `GET [base]` and
    /// `POST [base]/_search` (system), `GET [base]/[Compartment]/[id]/[type]` (compartment).
    Search(SearchScope),
    /// `PUT [base]/[type]?params`: conditional update.
    ConditionalUpdate(String),
    /// `DELETE [base]/[type]?params`: conditional delete.
    ConditionalDelete(String),
    /// `GET [base]/Patient/[id]/$everything`.
    Everything(String),
    /// `PATCH [base]/[type]/[id]`.
    Patch(String, String),
    /// `PATCH [base]/[type]?params`: conditional patch.
    ConditionalPatch(String),
    /// `POST [base]` with a batch or transaction Bundle.
    Bundle,
    /// `POST [base]/$reindex` (start) and `GET [base]/$reindex` (progress).
    Reindex { start: bool },
    /// Interactions of later issues (operations): answered 501.
    NotYet(&'static str),
}

/// What a search covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchScope {
    /// The type searched; `None` for a system search (or `*` in a compartment).
    pub resource_type: Option<String>,
    /// A compartment: (compartment type, id).
    pub compartment: Option<(String, String)>,
    /// `true` for the POST form (parameters in the body too).
    pub post: bool,
}

impl SearchScope {
    fn of_type(resource_type: String, post: bool) -> Interaction {
        Interaction::Search(SearchScope {
            resource_type: Some(resource_type),
            compartment: None,
            post,
        })
    }
}

/// The types that own a compartment in R4.
const COMPARTMENTS: [&str; 5] = [
    "Patient",
    "Encounter",
    "RelatedPerson",
    "Practitioner",
    "Device",
];

/// `true` for a valid logical id: 1–64 of `A-Z a-z 0-9 - .`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Checks one raw (undecoded) path segment: no `.`/`..`, no percent-escapes (no valid FHIR
/// type, id or version needs one, and `%2F` would smuggle a slash).
pub fn check_segment(segment: &str) -> Result<(), FhirError> {
    if segment == ".." || segment == "." {
        return Err(FhirError::BadRequest(
            "'.' and '..' are not allowed in the path".into(),
        ));
    }
    if segment.contains('%') {
        return Err(FhirError::BadRequest(format!(
            "the path segment '{segment}' contains an escaped character, which no FHIR type, id or version has"
        )));
    }
    Ok(())
}

/// Routes a method and the segments below the base.
pub fn route(method: &Method, segments: &[&str]) -> Result<Interaction, FhirError> {
    for segment in segments {
        check_segment(segment)?;
    }
    let is_get = method == Method::GET || method == Method::HEAD;
    let not_allowed = |allowed: &str| {
        Err(FhirError::MethodNotAllowed(format!(
            "{method} is not allowed here; allowed: {allowed}"
        )))
    };
    match segments {
        [] => match *method {
            Method::POST => Ok(Interaction::Bundle),
            Method::GET | Method::HEAD => Ok(Interaction::Search(SearchScope {
                resource_type: None,
                compartment: None,
                post: false,
            })),
            _ => not_allowed("GET, POST"),
        },
        ["_search"] => match *method {
            Method::POST => Ok(Interaction::Search(SearchScope {
                resource_type: None,
                compartment: None,
                post: true,
            })),
            _ => not_allowed("POST"),
        },
        ["metadata"] => {
            if is_get {
                Ok(Interaction::Capabilities)
            } else {
                not_allowed("GET")
            }
        }
        ["_history"] => {
            if is_get {
                Ok(Interaction::HistorySystem)
            } else {
                not_allowed("GET")
            }
        }
        ["$reindex"] => match *method {
            Method::POST => Ok(Interaction::Reindex { start: true }),
            Method::GET | Method::HEAD => Ok(Interaction::Reindex { start: false }),
            _ => not_allowed("GET, POST"),
        },
        [first, ..] if first.starts_with('$') => Ok(Interaction::NotYet("operations")),
        [resource_type, rest @ ..] => {
            let resource_type = known_type(resource_type)?;
            route_type(method, is_get, resource_type, rest)
        }
    }
}

fn route_type(
    method: &Method,
    is_get: bool,
    resource_type: String,
    rest: &[&str],
) -> Result<Interaction, FhirError> {
    let not_allowed = |allowed: &str| {
        Err(FhirError::MethodNotAllowed(format!(
            "{method} is not allowed here; allowed: {allowed}"
        )))
    };
    match rest {
        [] => match *method {
            Method::POST => Ok(Interaction::Create(resource_type)),
            Method::GET | Method::HEAD => Ok(SearchScope::of_type(resource_type, false)),
            Method::PUT => Ok(Interaction::ConditionalUpdate(resource_type)),
            Method::DELETE => Ok(Interaction::ConditionalDelete(resource_type)),
            Method::PATCH => Ok(Interaction::ConditionalPatch(resource_type)),
            _ => not_allowed("GET, POST, PUT, DELETE, PATCH"),
        },
        ["_history"] => {
            if is_get {
                Ok(Interaction::HistoryType(resource_type))
            } else {
                not_allowed("GET")
            }
        }
        ["_search"] => match *method {
            Method::POST => Ok(SearchScope::of_type(resource_type, true)),
            _ => not_allowed("POST"),
        },
        [first, ..] if first.starts_with('$') => Ok(Interaction::NotYet("operations")),
        [id] => {
            let id = valid_id(id)?;
            match *method {
                Method::GET | Method::HEAD => Ok(Interaction::Read(resource_type, id)),
                Method::PUT => Ok(Interaction::Update(resource_type, id)),
                Method::DELETE => Ok(Interaction::Delete(resource_type, id)),
                Method::PATCH => Ok(Interaction::Patch(resource_type, id)),
                _ => not_allowed("GET, PUT, DELETE, PATCH"),
            }
        }
        [id, "_history"] => {
            let id = valid_id(id)?;
            if is_get {
                Ok(Interaction::HistoryInstance(resource_type, id))
            } else {
                not_allowed("GET")
            }
        }
        [id, "_history", version] => {
            let id = valid_id(id)?;
            let version = version
                .parse::<i64>()
                .ok()
                .filter(|v| *v > 0 && version.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| FhirError::BadRequest(format!("'{version}' is not a version id")))?;
            if is_get {
                Ok(Interaction::Vread(resource_type, id, version))
            } else {
                not_allowed("GET")
            }
        }
        [id, "$everything"] if resource_type == "Patient" => {
            let id = valid_id(id)?;
            if is_get || *method == Method::POST {
                Ok(Interaction::Everything(id))
            } else {
                not_allowed("GET, POST")
            }
        }
        [_, operation, ..] if operation.starts_with('$') => Ok(Interaction::NotYet("operations")),
        [id, target] | [id, target, "_search"]
            if COMPARTMENTS.contains(&resource_type.as_str())
                && (*target == "*" || Model::r4().resource_type(target).is_some()) =>
        {
            let id = valid_id(id)?;
            let post = rest.len() == 3;
            if (post && *method != Method::POST) || (!post && !is_get) {
                return not_allowed(if post { "POST" } else { "GET" });
            }
            Ok(Interaction::Search(SearchScope {
                resource_type: (*target != "*").then(|| (*target).to_owned()),
                compartment: Some((resource_type, id)),
                post,
            }))
        }
        _ => Err(FhirError::NotFound(
            "no FHIR interaction has this path".into(),
        )),
    }
}

fn known_type(name: &str) -> Result<String, FhirError> {
    if Model::r4().resource_type(name).is_some() {
        Ok(name.to_owned())
    } else {
        Err(FhirError::NotFound(format!(
            "'{name}' is not a resource type of FHIR R4"
        )))
    }
}

fn valid_id(id: &str) -> Result<String, FhirError> {
    if is_valid_id(id) {
        Ok(id.to_owned())
    } else {
        Err(FhirError::BadRequest(format!(
            "'{id}' is not a valid id: 1 to 64 characters of A-Z, a-z, 0-9, '-' and '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_the_rest_interactions() {
        let get = Method::GET;
        assert_eq!(
            route(&get, &["metadata"]).unwrap(),
            Interaction::Capabilities
        );
        assert_eq!(
            route(&get, &["Patient", "a.1"]).unwrap(),
            Interaction::Read("Patient".into(), "a.1".into())
        );
        assert_eq!(
            route(&get, &["Patient", "a", "_history", "3"]).unwrap(),
            Interaction::Vread("Patient".into(), "a".into(), 3)
        );
        assert_eq!(
            route(&Method::POST, &["Patient"]).unwrap(),
            Interaction::Create("Patient".into())
        );
        assert!(matches!(
            route(&get, &["Patient", "a", "_history", "x"]),
            Err(FhirError::BadRequest(_))
        ));
        assert!(matches!(
            route(&get, &["Nope", "a"]),
            Err(FhirError::NotFound(_))
        ));
        assert!(matches!(
            route(&get, &["Patient", ".."]),
            Err(FhirError::BadRequest(_))
        ));
        assert!(matches!(
            route(&get, &["Patient", "a%2Fb"]),
            Err(FhirError::BadRequest(_))
        ));
        assert!(matches!(
            route(&Method::POST, &["Patient", "a"]),
            Err(FhirError::MethodNotAllowed(_))
        ));
        assert!(matches!(
            route(&get, &["Patient", &"x".repeat(65)]),
            Err(FhirError::BadRequest(_))
        ));
    }
}
