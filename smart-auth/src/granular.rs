//! Which granular scopes (`patient/Observation.rs?category=…`) can be granted: only those whose
//! constraints the server enforces exactly on every read, search and write, that is, on one
//! named type, with official search parameters of that type of the token, string, reference or
//! uri kind, each used without a modifier. Anything else is never granted (SMART App Launch:
//! a server must not grant a constraint it cannot enforce).

use fhir_core::search::ParamType;
use fhir_core::search::params::Registry;

use crate::scopes::{ResourceScope, Scopes};

/// `true` when the scope has no constraints, or constraints the server enforces.
pub fn enforceable(scope: &ResourceScope) -> bool {
    if scope.constraints.is_empty() {
        return true;
    }
    let Some(resource_type) = scope.resource_type.as_deref() else {
        return false;
    };
    scope.constraints.iter().all(|(name, _)| {
        !name.contains(':')
            && !name.contains('.')
            && Registry::r4()
                .get(resource_type, name)
                .is_some_and(|param| {
                    matches!(
                        param.param_type,
                        ParamType::Token
                            | ParamType::String
                            | ParamType::Reference
                            | ParamType::Uri
                    )
                })
    })
}

/// The scopes without the granular ones that cannot be enforced.
pub fn keep_enforceable(scopes: &Scopes) -> Scopes {
    Scopes {
        resources: scopes
            .resources
            .iter()
            .filter(|scope| enforceable(scope))
            .cloned()
            .collect(),
        others: scopes.others.clone(),
        unknown: scopes.unknown.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_enforceable_constraints_are_kept() {
        let scopes = Scopes::parse(
            "patient/Observation.rs?category=laboratory patient/Observation.rs?code:text=x \
             patient/*.rs?category=laboratory patient/Observation.rs?date=2020 \
             patient/Observation.rs?subject.name=x patient/Condition.rs?nonsense=1 patient/Patient.rs",
        );
        let kept = keep_enforceable(&scopes).to_string();
        assert_eq!(
            kept,
            "patient/Observation.rs?category=laboratory patient/Patient.rs"
        );
    }
}
