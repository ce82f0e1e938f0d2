//! SMART scopes, v1 and v2, parsed into permissions.
//!
//! - v1: `patient|user|system/(Type|*).(read|write|*)`, normalised as `read` → `rs`,
//!   `write` → `cud`, `*` → `cruds`.
//! - v2: `patient|user|system/(Type|*).[c][r][u][d][s]` (letters in that order, at least one),
//!   optionally followed by `?param=value&…` constraints (granular scopes).
//! - The others we know: `openid`, `fhirUser`, `profile`, `launch`, `launch/patient`,
//!   `launch/encounter`, `offline_access`, `online_access`. Anything else is unknown and never
//!   granted.

use std::fmt;

/// Whose data a resource scope covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// The patient in context (`patient/`): the patient compartment only.
    Patient,
    /// What the user may see (`user/`).
    User,
    /// A backend system without a user (`system/`).
    System,
}

impl Context {
    fn parse(text: &str) -> Option<Context> {
        match text {
            "patient" => Some(Context::Patient),
            "user" => Some(Context::User),
            "system" => Some(Context::System),
            _ => None,
        }
    }

    /// `patient`, `user` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Patient => "patient",
            Context::User => "user",
            Context::System => "system",
        }
    }
}

/// One of the five SMART v2 operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `c`: create.
    Create,
    /// `r`: read, vread, the history of one resource.
    Read,
    /// `u`: update and patch.
    Update,
    /// `d`: delete.
    Delete,
    /// `s`: search, and the history of a type or of everything.
    Search,
}

impl Op {
    fn bit(self) -> u8 {
        match self {
            Op::Create => 1,
            Op::Read => 2,
            Op::Update => 4,
            Op::Delete => 8,
            Op::Search => 16,
        }
    }

    /// The v2 letter.
    pub fn letter(self) -> char {
        match self {
            Op::Create => 'c',
            Op::Read => 'r',
            Op::Update => 'u',
            Op::Delete => 'd',
            Op::Search => 's',
        }
    }
}

/// A set of operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ops(u8);

impl Ops {
    /// All five.
    pub const ALL: Ops = Ops(31);
    /// Read and search.
    pub const READ: Ops = Ops(2 | 16);
    /// Create, update and delete.
    pub const WRITE: Ops = Ops(1 | 4 | 8);

    /// `true` when `op` is in the set.
    pub fn contains(self, op: Op) -> bool {
        self.0 & op.bit() != 0
    }

    /// Parses v2 letters: a non-empty subsequence of `cruds` in that order.
    fn parse_v2(text: &str) -> Option<Ops> {
        if text.is_empty() {
            return None;
        }
        let mut bits = 0u8;
        let mut rest = "cruds";
        for letter in text.chars() {
            let position = rest.find(letter)?;
            bits |= 1 << "cruds".find(letter)?;
            rest = &rest[position + 1..];
        }
        Some(Ops(bits))
    }

    /// The intersection.
    pub fn and(self, other: Ops) -> Ops {
        Ops(self.0 & other.0)
    }

    /// `true` for the empty set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Ops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for op in [Op::Create, Op::Read, Op::Update, Op::Delete, Op::Search] {
            if self.contains(op) {
                write!(f, "{}", op.letter())?;
            }
        }
        Ok(())
    }
}

/// One resource scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceScope {
    /// `patient/`, `user/` or `system/`.
    pub context: Context,
    /// The resource type; `None` for `*`.
    pub resource_type: Option<String>,
    /// The operations.
    pub ops: Ops,
    /// Granular constraints (`?category=laboratory`): search parameters, each `(name, value)`,
    /// that a resource must match (all of them).
    pub constraints: Vec<(String, String)>,
    /// The scope as written.
    pub text: String,
}

impl ResourceScope {
    /// Parses a v1 or v2 resource scope.
    pub fn parse(text: &str) -> Option<ResourceScope> {
        let (context, rest) = text.split_once('/')?;
        let context = Context::parse(context)?;
        let (resource, rest) = rest.split_once('.')?;
        let resource_type = match resource {
            "*" => None,
            name if is_type_name(name) => Some(name.to_owned()),
            _ => return None,
        };
        let (ops_text, query) = match rest.split_once('?') {
            Some((ops, query)) => (ops, Some(query)),
            None => (rest, None),
        };
        let ops = match ops_text {
            "read" => Ops::READ,
            "write" => Ops::WRITE,
            "*" => Ops::ALL,
            letters => Ops::parse_v2(letters)?,
        };
        let v1 = matches!(ops_text, "read" | "write" | "*");
        let mut constraints = Vec::new();
        if let Some(query) = query {
            if v1 || query.is_empty() {
                return None;
            }
            for (name, value) in form_urlencoded::parse(query.as_bytes()) {
                if name.is_empty() || value.is_empty() {
                    return None;
                }
                constraints.push((name.into_owned(), value.into_owned()));
            }
        }
        Some(ResourceScope {
            context,
            resource_type,
            ops,
            constraints,
            text: text.to_owned(),
        })
    }

    /// `true` when the scope names `resource_type` (or `*`).
    pub fn covers_type(&self, resource_type: &str) -> bool {
        self.resource_type
            .as_deref()
            .is_none_or(|name| name == resource_type)
    }
}

fn is_type_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A parsed scope string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    /// The resource scopes.
    pub resources: Vec<ResourceScope>,
    /// The other known scopes, as written (`openid`, `launch/patient`, …).
    pub others: Vec<String>,
    /// Scopes we do not know (never granted).
    pub unknown: Vec<String>,
}

/// The non-resource scopes we implement.
pub const KNOWN_SCOPES: &[&str] = &[
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
];

impl Scopes {
    /// Parses a space-separated scope string; duplicates are dropped.
    pub fn parse(text: &str) -> Scopes {
        let mut scopes = Scopes::default();
        for word in text
            .split([' ', '\t', '\n', '\r'])
            .filter(|w| !w.is_empty())
        {
            if scopes.contains_text(word) {
                continue;
            }
            if KNOWN_SCOPES.contains(&word) {
                scopes.others.push(word.to_owned());
            } else if let Some(scope) = ResourceScope::parse(word) {
                scopes.resources.push(scope);
            } else {
                scopes.unknown.push(word.to_owned());
            }
        }
        scopes
    }

    fn contains_text(&self, word: &str) -> bool {
        self.others.iter().any(|o| o == word)
            || self.unknown.iter().any(|o| o == word)
            || self.resources.iter().any(|r| r.text == word)
    }

    /// `true` when the non-resource scope `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.others.iter().any(|o| o == name)
    }

    /// `true` when every scope of `self` is in `other` (as written): refreshes may narrow the
    /// scopes of a grant, never widen them.
    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.unknown.is_empty()
            && self.others.iter().all(|o| other.has(o))
            && self
                .resources
                .iter()
                .all(|r| other.resources.iter().any(|o| o.text == r.text))
    }

    /// The scopes of `self` that are also in `other` (as written).
    pub fn intersect(&self, other: &Scopes) -> Scopes {
        Scopes {
            resources: self
                .resources
                .iter()
                .filter(|r| other.resources.iter().any(|o| o.text == r.text))
                .cloned()
                .collect(),
            others: self
                .others
                .iter()
                .filter(|o| other.has(o))
                .cloned()
                .collect(),
            unknown: Vec::new(),
        }
    }

    /// `true` when there is a resource scope of this context.
    pub fn has_context(&self, context: Context) -> bool {
        self.resources.iter().any(|r| r.context == context)
    }

    /// What the resource scopes of `context` allow on `resource_type` for `op`: `None` when
    /// nothing; otherwise the constraint sets, any of which a resource must match (an empty
    /// list of sets, or a set that is empty, means unconstrained).
    pub fn permission(
        &self,
        contexts: &[Context],
        resource_type: &str,
        op: Op,
    ) -> Option<Permission> {
        let mut sets = Vec::new();
        let mut any = false;
        for scope in &self.resources {
            if !contexts.contains(&scope.context)
                || !scope.covers_type(resource_type)
                || !scope.ops.contains(op)
            {
                continue;
            }
            any = true;
            if scope.constraints.is_empty() {
                return Some(Permission::Unconstrained);
            }
            sets.push(scope.constraints.clone());
        }
        any.then_some(Permission::Constrained(sets))
    }
}

/// What the scopes allow for one type and operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    /// Every resource of the type.
    Unconstrained,
    /// Only resources that match at least one of these sets of search parameters (all of a
    /// set).
    Constrained(Vec<Vec<(String, String)>>),
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for word in self
            .others
            .iter()
            .chain(self.resources.iter().map(|r| &r.text))
        {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            f.write_str(word)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_scopes_normalise_to_v2_operations() {
        let scopes = Scopes::parse("patient/*.read user/Observation.write system/Patient.*");
        assert_eq!(scopes.resources[0].ops, Ops::READ);
        assert_eq!(scopes.resources[0].resource_type, None);
        assert_eq!(scopes.resources[1].ops.to_string(), "cud");
        assert_eq!(scopes.resources[2].ops, Ops::ALL);
        assert_eq!(scopes.resources[2].context, Context::System);
    }

    #[test]
    fn v2_scopes_need_letters_in_order() {
        assert_eq!(
            ResourceScope::parse("patient/Observation.rs").map(|s| s.ops.to_string()),
            Some("rs".into())
        );
        for bad in [
            "patient/Observation.sr",
            "patient/Observation.rr",
            "patient/Observation.",
            "patient/Observation.x",
            "patient/observation.rs",
            "doctor/Observation.rs",
            "patient/Observation.read?category=x",
            "patient/Observation.rs?",
            "patient/Observation.rs?category=",
        ] {
            assert_eq!(ResourceScope::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn granular_scopes_carry_constraints() {
        let scope = ResourceScope::parse(
            "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
        )
        .unwrap();
        assert_eq!(scope.constraints[0].0, "category");
        assert!(scope.constraints[0].1.ends_with("|laboratory"));
        let scopes = Scopes::parse(&format!("{} patient/Condition.rs", scope.text));
        assert_eq!(
            scopes.permission(&[Context::Patient], "Observation", Op::Search),
            Some(Permission::Constrained(vec![scope.constraints.clone()]))
        );
        assert_eq!(
            scopes.permission(&[Context::Patient], "Condition", Op::Read),
            Some(Permission::Unconstrained)
        );
        assert_eq!(
            scopes.permission(&[Context::Patient], "Observation", Op::Create),
            None
        );
        assert_eq!(
            scopes.permission(&[Context::User], "Condition", Op::Read),
            None
        );
    }

    #[test]
    fn subsets_and_unknown_scopes() {
        let granted = Scopes::parse("openid fhirUser patient/*.rs offline_access");
        assert!(Scopes::parse("patient/*.rs openid").is_subset_of(&granted));
        assert!(!Scopes::parse("patient/*.cruds").is_subset_of(&granted));
        assert!(!Scopes::parse("patient/*.rs admin").is_subset_of(&granted));
        assert_eq!(Scopes::parse("admin patient/*.rs").unknown, vec!["admin"]);
        assert_eq!(
            Scopes::parse("patient/*.rs launch launch").to_string(),
            "launch patient/*.rs"
        );
    }
}
