//! A search request, parsed from its parameters.
//!
//! [`parse`] turns the query parameters of a FHIR search (`name=a,b&birthdate=ge2000&_sort=-date`)
//! into a [`SearchRequest`]: AND of [`Condition`]s, each an OR of [`SearchValue`]s typed by the
//! parameter they apply to, plus the result controls. Chains (`subject:Patient.name=x`) and
//! reverse chains (`_has:Observation:patient:code=x`) nest as [`ParamPath`]s.
//!
//! Unknown or malformed parameters are reported as [`ParseProblem`]s; the caller decides, by
//! `Prefer: handling`, whether they are ignored (lenient) or refused (strict).

use crate::model::Model;
use crate::search::ParamType;
use crate::search::params::{Registry, SearchParam};

#[cfg(test)]
mod tests;

/// The modifier of a search parameter (`name:exact`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    /// `:missing` (the value is `true` or `false`).
    Missing,
    /// `:exact` (string).
    Exact,
    /// `:contains` (string, uri is not).
    Contains,
    /// `:text` (token: display and text; string and reference: not supported in R4 here).
    Text,
    /// `:not` (token).
    Not,
    /// `:above` (uri; token needs terminology).
    Above,
    /// `:below` (uri; token needs terminology).
    Below,
    /// `:in` (token; needs terminology).
    In,
    /// `:not-in` (token; needs terminology).
    NotIn,
    /// `:of-type` (token on Identifier).
    OfType,
    /// `:identifier` (reference: matches `Reference.identifier`).
    Identifier,
    /// `:[type]` (reference: restrict the target type, `subject:Patient`).
    Type(String),
}

/// A comparison prefix of number, date and quantity values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefix {
    /// `eq` (the default).
    #[default]
    Eq,
    /// `ne`.
    Ne,
    /// `gt`.
    Gt,
    /// `lt`.
    Lt,
    /// `ge`.
    Ge,
    /// `le`.
    Le,
    /// `sa` (starts after).
    Sa,
    /// `eb` (ends before).
    Eb,
    /// `ap` (approximately).
    Ap,
}

/// One value of a search parameter, typed by the parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchValue {
    /// `:missing=true|false`.
    Missing(bool),
    /// A number with its prefix; `value` is the decimal text as given (its precision matters).
    Number {
        /// The prefix.
        prefix: Prefix,
        /// The decimal text, without the prefix.
        value: String,
    },
    /// A date with its prefix; `[start, end)` is the range the given precision denotes.
    Date {
        /// The prefix.
        prefix: Prefix,
        /// First millisecond of the value's range.
        start: i64,
        /// First millisecond after the value's range.
        end: i64,
    },
    /// A string (already unescaped).
    String(String),
    /// A token: `code`, `system|code`, `|code` (no system), `system|` (any code in system).
    /// For `:of-type`, `system|code|value` is stored as `system`, `code` and `value`.
    /// For `:text`, the text is in `code`.
    Token {
        /// `None`: any system; `Some(None)`: no system (`|code`); `Some(Some(s))`: system `s`.
        system: Option<Option<String>>,
        /// `None` for `system|` (any code).
        code: Option<String>,
        /// The identifier value of `:of-type`.
        value: Option<String>,
    },
    /// A reference: `id`, `Type/id`, an absolute URL (`url|version` for canonicals).
    /// With `:identifier` the value is a token in `identifier`.
    Reference {
        /// The resource type, when given (`Type/id`, or by a `:Type` modifier).
        resource_type: Option<String>,
        /// The id, for `id` and `Type/id` forms.
        id: Option<String>,
        /// An absolute URL or canonical, when given that way.
        url: Option<String>,
        /// The version of a canonical (`url|version`). Not checked by [`super::matching`]:
        /// [`crate::search::IndexValue::Reference`] keeps no version.
        version: Option<String>,
        /// `:identifier` values (system, value) in the token forms.
        identifier: Option<(Option<Option<String>>, Option<String>)>,
    },
    /// A quantity: `[prefix]number|system|code` or `[prefix]number||unit-or-code` or
    /// `[prefix]number`.
    Quantity {
        /// The prefix.
        prefix: Prefix,
        /// The decimal text.
        value: String,
        /// The system, when given (non-empty).
        system: Option<String>,
        /// The code or unit, when given (non-empty).
        code: Option<String>,
    },
    /// A uri.
    Uri(String),
    /// A composite value: one value per component, `$`-separated, typed by each component.
    Composite(Vec<SearchValue>),
    /// `near=latitude|longitude|distance|units`: the distance is converted to kilometres; without
    /// a distance it is [`DEFAULT_NEAR_KM`].
    Near {
        /// Latitude.
        latitude: f64,
        /// Longitude.
        longitude: f64,
        /// Distance in kilometres.
        distance_km: f64,
    },
}

/// The parameter a condition applies to, possibly through chains.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamPath {
    /// A parameter of the searched type (`name`, `code:text`).
    Direct {
        /// The parameter code (`name`, `_id`, `_lastUpdated` …).
        code: String,
        /// The parameter type.
        param_type: ParamType,
        /// The modifier, if any.
        modifier: Option<Modifier>,
    },
    /// A chain: `subject:Patient.name=x` → reference parameter `subject`, target type `Patient`,
    /// then `name` on the targets.
    Chain {
        /// The reference parameter of the searched type.
        reference: String,
        /// The target type(s) the chain goes to (from the `:Type` modifier or the parameter's
        /// targets that have the next parameter).
        target_types: Vec<String>,
        /// The rest of the chain, evaluated on the target type(s).
        next: Box<ParamPath>,
    },
    /// A reverse chain: `_has:Observation:patient:code=x` → resources referenced by the
    /// `patient` parameter of an Observation whose `code` matches.
    Has {
        /// The type that refers to the searched resource.
        resource_type: String,
        /// Its reference parameter that points to the searched resource.
        reference: String,
        /// The condition on the referring resources.
        next: Box<ParamPath>,
    },
}

impl ParamPath {
    /// The innermost direct parameter (where the values apply).
    pub fn leaf(&self) -> (&str, ParamType, Option<&Modifier>) {
        match self {
            ParamPath::Direct {
                code,
                param_type,
                modifier,
            } => (code, *param_type, modifier.as_ref()),
            ParamPath::Chain { next, .. } | ParamPath::Has { next, .. } => next.leaf(),
        }
    }
}

/// One search parameter occurrence: the values are ORed.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// What the values apply to.
    pub path: ParamPath,
    /// The values; a resource matches when one of them matches.
    pub values: Vec<SearchValue>,
}

/// A sort key (`_sort=-date`).
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// The parameter code (`_id`, `_lastUpdated` or any parameter of the searched type).
    pub code: String,
    /// Its type.
    pub param_type: ParamType,
    /// `true` for `-code`.
    pub descending: bool,
}

/// An `_include` or `_revinclude`: `Source:param[:Target]`, or `*`.
#[derive(Debug, Clone, PartialEq)]
pub struct Include {
    /// The type that holds the reference (`*` as `None`: any type).
    pub source_type: Option<String>,
    /// The reference parameter (`None` for `*`: every reference parameter).
    pub param: Option<String>,
    /// A restriction of the target type.
    pub target_type: Option<String>,
    /// `:iterate` (or the R4 `:recurse` spelling).
    pub iterate: bool,
}

/// `_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TotalMode {
    /// No total.
    None,
    /// A cheap estimate (may be above the true count).
    #[default]
    Estimate,
    /// The exact count.
    Accurate,
}

/// `_summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    /// `_summary=true`.
    True,
    /// `_summary=text`.
    Text,
    /// `_summary=data`.
    Data,
    /// `_summary=count`: the total only, no entries.
    Count,
    /// `_summary=false`.
    False,
}

/// A parsed search request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchRequest {
    /// The types searched: one for type search, several or none (= all) for system search
    /// (`_type`).
    pub types: Vec<String>,
    /// The conditions, ANDed.
    pub conditions: Vec<Condition>,
    /// `_sort` keys, in order.
    pub sort: Vec<SortKey>,
    /// `_count`, when given.
    pub count: Option<usize>,
    /// `_total`.
    pub total: TotalMode,
    /// `_summary`.
    pub summary: Option<Summary>,
    /// `_elements`.
    pub elements: Vec<String>,
    /// `_include`s.
    pub includes: Vec<Include>,
    /// `_revinclude`s.
    pub revincludes: Vec<Include>,
    /// `_cursor`: the opaque keyset cursor of a page link.
    pub cursor: Option<String>,
    /// Other result parameters the server passes through to links (`_format`, `_pretty`).
    pub passthrough: Vec<(String, String)>,
    /// Each included resource appears once in the whole search, on the page of its first
    /// referrer, instead of on every page that refers to it (`$everything`).
    pub include_once: bool,
    /// Included resources must have been updated at or after this instant (milliseconds):
    /// `$everything`'s `_since`, which applies to every resource returned.
    pub include_since: Option<i64>,
    /// A compartment search (`Patient/123/Observation`): (compartment type, id). Set by the
    /// server from the path, not parsed from parameters.
    pub compartment: Option<(String, String)>,
}

/// A parameter that could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseProblem {
    /// The parameter as given (`name:foo`).
    pub param: String,
    /// What is wrong, for the OperationOutcome.
    pub message: String,
    /// `true` when the parameter is unknown and may be ignored under lenient handling; `false`
    /// when it is known but its value or modifier is malformed or unsupported, or when ignoring
    /// it would widen or reshape the result (an unknown link of a chain or `_has`, an unknown
    /// `_include`, `_revinclude` or `_sort` parameter).
    pub unknown: bool,
}

/// The result of [`parse`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// The request, without the parameters that had problems.
    pub request: SearchRequest,
    /// Parameters that were not used. Unknown ones may be ignored (lenient handling); the
    /// others (malformed values, unsupported modifiers such as `:in` before terminology) must be
    /// refused.
    pub problems: Vec<ParseProblem>,
}

/// The deepest chain accepted: the number of links (`.` steps and `_has:` steps) in one
/// parameter name. `a.b.c.d.e` has four links.
pub const MAX_CHAIN_DEPTH: usize = 4;

/// The most values (comma-separated, over all parameters) one request may have.
pub const MAX_VALUES: usize = 1000;

/// The most parameters one request may have.
pub const MAX_PARAMS: usize = 1000;

/// The longest parameter value accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

/// The distance of `near=lat|long` when none is given, in kilometres (the specification leaves
/// it to the server).
pub const DEFAULT_NEAR_KM: f64 = 10.0;

/// A problem found while parsing one parameter: the message and whether the parameter is
/// unknown (as opposed to known but unusable).
type Problem = (String, bool);

fn bad<T>(message: impl Into<String>) -> Result<T, Problem> {
    Err((message.into(), false))
}

fn unknown<T>(message: impl Into<String>) -> Result<T, Problem> {
    Err((message.into(), true))
}

/// Parses the parameters of a search over `types` (one type for a type search; empty for a
/// system search, where `_type` chooses) against a registry of search parameters.
///
/// Decisions beyond the specification's text:
/// - an empty value (`name=`, or empty items of a comma list) is ignored;
/// - a dateTime with hours but no time zone is read as UTC;
/// - in a system search (no type, no `_type`), only parameters defined on `Resource` or
///   `DomainResource` are allowed; with `_type`, a parameter must exist on every listed type;
/// - `_text` and `_content` (full text), `_filter`, `_query`, `:text` on strings and references,
///   and the terminology modifiers `:in`, `:not-in`, `:above`, `:below` on tokens are known but
///   unsupported (problems with `unknown: false`); `_contained` and `_containedType` are unknown;
/// - `_list=id` becomes a condition on the pseudo-parameter `_list` (type token, one
///   [`SearchValue::Token`] per list id or functional list name such as `$current-problems`,
///   code only), for the server to resolve;
/// - an unknown `_sort` key is a problem with `unknown: false` (the order asked for cannot be
///   given), the other keys are kept;
/// - `near` without a distance uses [`DEFAULT_NEAR_KM`]; units are `km` (the default), `mi`,
///   `[mi_i]` or `m`.
pub fn parse(types: &[String], params: &[(String, String)], registry: &Registry) -> Parsed {
    let mut parser = Parser {
        registry,
        model: Model::r4(),
        request: SearchRequest::default(),
        problems: Vec::new(),
        values: 0,
    };
    parser.run(types, params);
    Parsed {
        request: parser.request,
        problems: parser.problems,
    }
}

struct Parser<'r> {
    registry: &'r Registry,
    model: &'static Model,
    request: SearchRequest,
    problems: Vec<ParseProblem>,
    /// Values used so far (against [`MAX_VALUES`]).
    values: usize,
}

impl<'r> Parser<'r> {
    fn problem(&mut self, param: &str, (message, unknown): Problem) {
        // Ignoring a chain, `_has`, `_include` or `_sort` with an unknown part would not just
        // drop a filter: it would return more, or differently shaped, results.
        let widens = param.contains('.')
            || param.starts_with("_has:")
            || ["_include", "_revinclude", "_sort"]
                .iter()
                .any(|name| param.starts_with(name));
        self.problems.push(ParseProblem {
            param: param.to_owned(),
            message,
            unknown: unknown && !widens,
        });
    }

    fn is_resource_type(&self, name: &str) -> bool {
        self.model.resource_type(name).is_some()
    }

    fn run(&mut self, types: &[String], params: &[(String, String)]) {
        let mut types = types.to_vec();
        let system = types.is_empty();
        for (name, value) in params.iter().take(MAX_PARAMS) {
            if name.split(':').next() != Some("_type") {
                continue;
            }
            if name != "_type" {
                self.problem(name, (format!("`{name}`: _type takes no modifier"), false));
            } else if !system {
                self.problem(
                    name,
                    ("_type is only allowed in a system search".into(), false),
                );
            } else {
                for item in split_unescaped(value, ',') {
                    let item = unescape(item);
                    let item = item.trim();
                    if item.is_empty() {
                        continue;
                    }
                    if !self.is_resource_type(item) {
                        self.problem(name, (format!("`{item}` is not a resource type"), false));
                    } else if !types.iter().any(|t| t == item) {
                        types.push(item.to_owned());
                    }
                }
            }
        }
        self.request.types = types.clone();
        if params.len() > MAX_PARAMS {
            self.problem(
                "(parameters)",
                (
                    format!(
                        "too many parameters ({}, at most {MAX_PARAMS} are accepted)",
                        params.len()
                    ),
                    false,
                ),
            );
        }
        for (name, value) in params.iter().take(MAX_PARAMS) {
            if let Err(problem) = self.parameter(&types, name, value) {
                self.problem(name, problem);
            }
        }
    }

    /// Parses one parameter into the request.
    fn parameter(&mut self, types: &[String], name: &str, value: &str) -> Result<(), Problem> {
        if value.len() > MAX_VALUE_BYTES {
            return bad(format!(
                "the value is too long ({} bytes, at most {MAX_VALUE_BYTES})",
                value.len()
            ));
        }
        if value.chars().any(char::is_control) {
            return bad("the value contains control characters");
        }
        if name.chars().any(char::is_control) {
            return unknown("the parameter name contains control characters");
        }
        let (base, suffix) = match name.split_once(':') {
            Some((base, suffix)) => (base, Some(suffix)),
            None => (name, None),
        };
        let no_modifier = || match suffix {
            Some(_) => bad(format!("`{base}` takes no modifier")),
            None => Ok(()),
        };
        match base {
            "_type" => Ok(()),
            "_sort" => {
                no_modifier()?;
                self.sort(types, name, value);
                Ok(())
            }
            "_count" => {
                no_modifier()?;
                let value = value.trim();
                if !value.is_empty() {
                    match value.parse::<usize>() {
                        Ok(count) => self.request.count = Some(count),
                        // Too big for a usize is still a page size: the server clamps it.
                        Err(_) if value.bytes().all(|b| b.is_ascii_digit()) => {
                            self.request.count = Some(usize::MAX)
                        }
                        Err(_) => return bad("_count must be a non-negative integer"),
                    }
                }
                Ok(())
            }
            "_total" => {
                no_modifier()?;
                self.request.total = match value.trim() {
                    "" => return Ok(()),
                    "none" => TotalMode::None,
                    "estimate" => TotalMode::Estimate,
                    "accurate" => TotalMode::Accurate,
                    _ => return bad("_total must be none, estimate or accurate"),
                };
                Ok(())
            }
            "_summary" => {
                no_modifier()?;
                self.request.summary = Some(match value.trim() {
                    "" => return Ok(()),
                    "true" => Summary::True,
                    "text" => Summary::Text,
                    "data" => Summary::Data,
                    "count" => Summary::Count,
                    "false" => Summary::False,
                    _ => return bad("_summary must be true, text, data, count or false"),
                });
                Ok(())
            }
            "_elements" => {
                no_modifier()?;
                let mut elements = Vec::new();
                for item in value.split(',') {
                    let item = item.trim();
                    if item.is_empty() {
                        continue;
                    }
                    if !item
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
                    {
                        return bad(format!("`{item}` is not an element name"));
                    }
                    elements.push(item.to_owned());
                }
                self.request.elements.extend(elements);
                Ok(())
            }
            "_include" | "_revinclude" => {
                let iterate = match suffix {
                    None => false,
                    Some("iterate" | "recurse") => true,
                    Some(other) => return bad(format!("`{base}` has no modifier `:{other}`")),
                };
                let value = value.trim();
                if value.is_empty() {
                    return Ok(());
                }
                let include = self.include(value, iterate)?;
                if base == "_include" {
                    self.request.includes.push(include);
                } else {
                    self.request.revincludes.push(include);
                }
                Ok(())
            }
            "_cursor" => {
                no_modifier()?;
                self.request.cursor = Some(value.to_owned());
                Ok(())
            }
            "_format" | "_pretty" => {
                no_modifier()?;
                self.request
                    .passthrough
                    .push((name.to_owned(), value.to_owned()));
                Ok(())
            }
            "_contained" | "_containedType" => unknown(format!(
                "`{base}` (searching contained resources) is not supported"
            )),
            "_filter" => bad("_filter is not supported"),
            "_query" => bad("named queries (_query) are not supported"),
            "_list" => {
                no_modifier()?;
                let values: Vec<SearchValue> = split_unescaped(value, ',')
                    .into_iter()
                    .map(unescape)
                    .filter(|item| !item.is_empty())
                    .map(|item| SearchValue::Token {
                        system: None,
                        code: Some(item),
                        value: None,
                    })
                    .collect();
                self.condition(
                    ParamPath::Direct {
                        code: "_list".to_owned(),
                        param_type: ParamType::Token,
                        modifier: None,
                    },
                    values,
                )
            }
            _ => {
                let links = name.matches('.').count() + name.matches("_has:").count();
                if links > MAX_CHAIN_DEPTH {
                    return bad(format!(
                        "the chain is too deep ({links} links, at most {MAX_CHAIN_DEPTH})"
                    ));
                }
                let (path, param) = self.path(types, name)?;
                let (_, _, modifier) = path.leaf();
                let modifier = modifier.cloned();
                let mut values = Vec::new();
                for item in split_unescaped(value, ',') {
                    if item.is_empty() {
                        continue;
                    }
                    values.push(self.value(param, modifier.as_ref(), item)?);
                }
                self.condition(path, values)
            }
        }
    }

    fn condition(&mut self, path: ParamPath, values: Vec<SearchValue>) -> Result<(), Problem> {
        if values.is_empty() {
            return Ok(());
        }
        self.values += values.len();
        if self.values > MAX_VALUES {
            return bad(format!(
                "too many values in the request (at most {MAX_VALUES})"
            ));
        }
        self.request.conditions.push(Condition { path, values });
        Ok(())
    }

    /// The parameter `code` on every type of `types` (on `Resource`/`DomainResource` for none).
    fn lookup(&self, types: &[String], code: &str) -> Option<&'r SearchParam> {
        if types.is_empty() {
            // Any concrete DomainResource type sees exactly the common parameters plus its own;
            // keep the common ones.
            return ["Resource", "Patient"]
                .iter()
                .filter_map(|t| self.registry.get(t, code))
                .find(|p| {
                    p.base
                        .iter()
                        .any(|b| b == "Resource" || b == "DomainResource")
                });
        }
        let first = self.registry.get(&types[0], code)?;
        types[1..]
            .iter()
            .all(|t| {
                self.registry
                    .get(t, code)
                    .is_some_and(|p| p.param_type == first.param_type)
            })
            .then_some(first)
    }

    fn unknown_param<T>(&self, types: &[String], code: &str) -> Result<T, Problem> {
        if types.is_empty() {
            unknown(format!(
                "unknown search parameter `{code}` (a system search allows only the common \
                 parameters)"
            ))
        } else {
            unknown(format!(
                "unknown search parameter `{code}` for {}",
                types.join(", ")
            ))
        }
    }

    /// Parses a parameter name (with chains, `_has` and a modifier) searched on `types`.
    fn path(&self, types: &[String], name: &str) -> Result<(ParamPath, &'r SearchParam), Problem> {
        if let Some(rest) = name.strip_prefix("_has:") {
            let mut parts = rest.splitn(3, ':');
            let (Some(source), Some(reference), Some(rest)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return bad("_has takes the form _has:Type:reference:parameter");
            };
            if !self.is_resource_type(source) {
                return bad(format!("_has: `{source}` is not a resource type"));
            }
            let source_types = vec![source.to_owned()];
            let Some(param) = self.lookup(&source_types, reference) else {
                return self.unknown_param(&source_types, reference);
            };
            if param.param_type != ParamType::Reference {
                return bad(format!(
                    "_has: `{source}.{reference}` is not a reference parameter"
                ));
            }
            if let Some(t) = types
                .iter()
                .find(|t| !param.targets.is_empty() && !param.targets.contains(t))
            {
                return bad(format!(
                    "_has: `{source}.{reference}` does not refer to {t}"
                ));
            }
            if rest.is_empty() {
                return bad("_has takes the form _has:Type:reference:parameter");
            }
            let (next, leaf) = self.path(&source_types, rest)?;
            return Ok((
                ParamPath::Has {
                    resource_type: source.to_owned(),
                    reference: reference.to_owned(),
                    next: Box::new(next),
                },
                leaf,
            ));
        }
        if let Some((head, tail)) = name.split_once('.') {
            let (code, target) = match head.split_once(':') {
                Some((code, target)) => (code, Some(target)),
                None => (head, None),
            };
            let Some(param) = self.lookup(types, code) else {
                return self.unknown_param(types, code);
            };
            if param.param_type != ParamType::Reference {
                return bad(format!(
                    "`{code}` is not a reference parameter and cannot be chained"
                ));
            }
            let target_types = match target {
                Some(target) => {
                    if !self.is_resource_type(target)
                        || (!param.targets.is_empty() && !param.targets.iter().any(|t| t == target))
                    {
                        return bad(format!("`{code}` cannot refer to `{target}`"));
                    }
                    vec![target.to_owned()]
                }
                None => {
                    let next_code = if tail.starts_with("_has:") {
                        None
                    } else {
                        tail.split(['.', ':']).next()
                    };
                    let mut found: Vec<(String, ParamType)> = Vec::new();
                    for t in &param.targets {
                        let next_type = match next_code {
                            None => Some(ParamType::Reference),
                            Some(next) => self.registry.get(t, next).map(|p| p.param_type),
                        };
                        if let Some(next_type) = next_type {
                            found.push((t.clone(), next_type));
                        }
                    }
                    let Some(&(_, first_type)) = found.first() else {
                        return unknown(format!(
                            "no target type of `{code}` has the parameter `{}`",
                            next_code.unwrap_or(tail)
                        ));
                    };
                    found
                        .into_iter()
                        .filter(|(_, ty)| *ty == first_type)
                        .map(|(t, _)| t)
                        .collect()
                }
            };
            let (next, leaf) = self.path(&target_types, tail)?;
            return Ok((
                ParamPath::Chain {
                    reference: code.to_owned(),
                    target_types,
                    next: Box::new(next),
                },
                leaf,
            ));
        }
        let (code, modifier) = match name.split_once(':') {
            Some((code, modifier)) => (code, Some(modifier)),
            None => (name, None),
        };
        let Some(param) = self.lookup(types, code) else {
            return self.unknown_param(types, code);
        };
        let modifier = modifier.map(|m| self.modifier(param, m)).transpose()?;
        Ok((
            ParamPath::Direct {
                code: code.to_owned(),
                param_type: param.param_type,
                modifier,
            },
            param,
        ))
    }

    /// Checks a modifier against the type of its parameter.
    fn modifier(&self, param: &SearchParam, text: &str) -> Result<Modifier, Problem> {
        use ParamType as T;
        let invalid = || {
            bad(format!(
                "the modifier `:{text}` is not valid for `{}` (a {} parameter)",
                param.code,
                type_name(param.param_type)
            ))
        };
        match (param.param_type, text) {
            (_, "missing") => Ok(Modifier::Missing),
            (T::String, "exact") => Ok(Modifier::Exact),
            (T::String, "contains") => Ok(Modifier::Contains),
            (T::String | T::Reference, "text") => bad(format!(
                "the modifier `:text` on `{}` is not supported",
                param.code
            )),
            (T::Token, "text") => Ok(Modifier::Text),
            (T::Token, "not") => Ok(Modifier::Not),
            (T::Token, "of-type") => Ok(Modifier::OfType),
            (T::Token, "in" | "not-in" | "above" | "below") => bad(format!(
                "the modifier `:{text}` needs terminology services, which are not available yet"
            )),
            (T::Uri, "above") => Ok(Modifier::Above),
            (T::Uri, "below") => Ok(Modifier::Below),
            (T::Reference, "identifier") => Ok(Modifier::Identifier),
            (T::Reference, target) if target.starts_with(|c: char| c.is_ascii_uppercase()) => {
                if !self.is_resource_type(target) {
                    return bad(format!("`{target}` is not a resource type"));
                }
                if !param.targets.is_empty() && !param.targets.iter().any(|t| t == target) {
                    return bad(format!("`{}` cannot refer to `{target}`", param.code));
                }
                Ok(Modifier::Type(target.to_owned()))
            }
            _ => invalid(),
        }
    }

    /// Parses one value (an item of the comma list, still escaped).
    fn value(
        &self,
        param: &SearchParam,
        modifier: Option<&Modifier>,
        raw: &str,
    ) -> Result<SearchValue, Problem> {
        if modifier == Some(&Modifier::Missing) {
            return match raw {
                "true" => Ok(SearchValue::Missing(true)),
                "false" => Ok(SearchValue::Missing(false)),
                _ => bad(":missing takes true or false"),
            };
        }
        match param.param_type {
            ParamType::Number => {
                let (prefix, number) = split_prefix(raw)?;
                let number = unescape(number);
                if !is_decimal(&number) {
                    return bad(format!("`{number}` is not a number"));
                }
                Ok(SearchValue::Number {
                    prefix,
                    value: number,
                })
            }
            ParamType::Date => {
                let (prefix, date) = split_prefix(raw)?;
                let date = unescape(date);
                let Some((start, end)) = crate::time::parse_range(&date) else {
                    return bad(format!("`{date}` is not a valid date, dateTime or instant"));
                };
                Ok(SearchValue::Date { prefix, start, end })
            }
            ParamType::String => Ok(SearchValue::String(unescape(raw))),
            ParamType::Uri => Ok(SearchValue::Uri(unescape(raw))),
            ParamType::Token => parse_token(modifier, raw),
            ParamType::Reference => self.reference(modifier, raw),
            ParamType::Quantity => {
                let (prefix, rest) = split_prefix(raw)?;
                let parts = split_unescaped(rest, '|');
                let (number, system, code) = match parts.as_slice() {
                    [number] => (unescape(number), None, None),
                    [number, system, code] => (
                        unescape(number),
                        non_empty(unescape(system)),
                        non_empty(unescape(code)),
                    ),
                    _ => return bad("a quantity is number, number|system|code or number||code"),
                };
                if !is_decimal(&number) {
                    return bad(format!("`{number}` is not a number"));
                }
                Ok(SearchValue::Quantity {
                    prefix,
                    value: number,
                    system,
                    code,
                })
            }
            ParamType::Composite => {
                let parts = split_unescaped(raw, '$');
                if parts.len() != param.components.len() {
                    return bad(format!(
                        "`{}` takes {} `$`-separated parts, not {}",
                        param.code,
                        param.components.len(),
                        parts.len()
                    ));
                }
                let mut values = Vec::with_capacity(parts.len());
                for (part, component) in parts.into_iter().zip(&param.components) {
                    let Some(component_param) = self.registry.by_url(&component.definition) else {
                        return bad(format!(
                            "the component `{}` of `{}` is not defined",
                            component.definition, param.code
                        ));
                    };
                    if component_param.param_type == ParamType::Composite {
                        return bad("a composite cannot have a composite component");
                    }
                    if part.is_empty() {
                        return bad(format!("an empty component in `{}`", param.code));
                    }
                    values.push(self.value(component_param, None, part)?);
                }
                Ok(SearchValue::Composite(values))
            }
            ParamType::Special => {
                if param.code != "near" {
                    return bad(format!(
                        "the special parameter `{}` is not supported",
                        param.code
                    ));
                }
                parse_near(raw)
            }
        }
    }

    fn reference(&self, modifier: Option<&Modifier>, raw: &str) -> Result<SearchValue, Problem> {
        if modifier == Some(&Modifier::Identifier) {
            let parts = split_unescaped(raw, '|');
            let identifier = match parts.as_slice() {
                [value] => (None, Some(unescape(value))),
                [system, value] => {
                    let system = non_empty(unescape(system));
                    let value = non_empty(unescape(value));
                    if system.is_none() && value.is_none() {
                        return bad("an identifier needs a system or a value");
                    }
                    (Some(system), value)
                }
                _ => return bad("an identifier is value, system|value, |value or system|"),
            };
            return Ok(SearchValue::Reference {
                resource_type: None,
                id: None,
                url: None,
                version: None,
                identifier: Some(identifier),
            });
        }
        let parts = split_unescaped(raw, '|');
        let (reference, version) = match parts.as_slice() {
            [reference] => (unescape(reference), None),
            [reference, version] => (unescape(reference), non_empty(unescape(version))),
            _ => return bad("a reference is id, Type/id, a url or url|version"),
        };
        let (mut resource_type, id, url) =
            if reference.contains("://") || reference.starts_with("urn:") {
                let (resource_type, id) = match self.type_and_id(&reference) {
                    Some((t, id)) => (Some(t), Some(id)),
                    None => (None, None),
                };
                (resource_type, id, Some(reference))
            } else {
                if version.is_some() {
                    return bad("only a url or canonical takes a |version");
                }
                if reference.contains('/') {
                    let segments: Vec<&str> = reference.split('/').collect();
                    let relative =
                        segments.len() == 2 || (segments.len() == 4 && segments[2] == "_history");
                    match self.type_and_id(&reference) {
                        Some((t, id)) if relative => (Some(t), Some(id), None),
                        _ => return bad(format!("`{reference}` is not Type/id")),
                    }
                } else if is_id(&reference) {
                    (None, Some(reference), None)
                } else {
                    return bad(format!("`{reference}` is not a valid id"));
                }
            };
        if let Some(Modifier::Type(target)) = modifier {
            match &resource_type {
                Some(t) if t != target && url.is_none() => {
                    return bad(format!("`{raw}` is not a {target}"));
                }
                Some(_) => {}
                None => resource_type = Some(target.clone()),
            }
        }
        Ok(SearchValue::Reference {
            resource_type,
            id,
            url,
            version,
            identifier: None,
        })
    }

    /// The type and id at the end of a reference path: `…/Type/id` or
    /// `…/Type/id/_history/version`.
    fn type_and_id(&self, reference: &str) -> Option<(String, String)> {
        let mut segments: Vec<&str> = reference.split('/').collect();
        if segments.len() >= 4 && segments[segments.len() - 2] == "_history" {
            segments.truncate(segments.len() - 2);
        }
        let [.., resource_type, id] = segments.as_slice() else {
            return None;
        };
        (self.is_resource_type(resource_type) && is_id(id))
            .then(|| ((*resource_type).to_owned(), (*id).to_owned()))
    }

    fn sort(&mut self, types: &[String], name: &str, value: &str) {
        for item in value.split(',') {
            let item = item.trim();
            let (code, descending) = match item.strip_prefix('-') {
                Some(code) => (code, true),
                None => (item, false),
            };
            if code.is_empty() {
                continue;
            }
            let param_type = match self.lookup(types, code) {
                Some(param) => param.param_type,
                None if code == "_id" => ParamType::Token,
                None if code == "_lastUpdated" => ParamType::Date,
                None => {
                    self.problem(
                        name,
                        (
                            format!("cannot sort by the unknown parameter `{code}`"),
                            false,
                        ),
                    );
                    continue;
                }
            };
            if matches!(param_type, ParamType::Composite | ParamType::Special) {
                self.problem(
                    name,
                    (
                        format!(
                            "cannot sort by the {} parameter `{code}`",
                            type_name(param_type)
                        ),
                        false,
                    ),
                );
                continue;
            }
            self.request.sort.push(SortKey {
                code: code.to_owned(),
                param_type,
                descending,
            });
        }
    }

    fn include(&self, value: &str, iterate: bool) -> Result<Include, Problem> {
        if value == "*" {
            return Ok(Include {
                source_type: None,
                param: None,
                target_type: None,
                iterate,
            });
        }
        let parts: Vec<&str> = value.split(':').collect();
        let (source, code, target) = match parts.as_slice() {
            [source, code] => (*source, *code, None),
            [source, code, target] => (*source, *code, Some(*target)),
            _ => return bad("an include is Type:parameter, Type:parameter:Target or *"),
        };
        if !self.is_resource_type(source) {
            return bad(format!("`{source}` is not a resource type"));
        }
        let param = if code == "*" {
            None
        } else {
            let source_types = [source.to_owned()];
            let Some(param) = self.lookup(&source_types, code) else {
                return self.unknown_param(&source_types, code);
            };
            if param.param_type != ParamType::Reference {
                return bad(format!("`{source}:{code}` is not a reference parameter"));
            }
            Some(param)
        };
        if let Some(target) = target {
            let allowed =
                param.is_none_or(|p| p.targets.is_empty() || p.targets.iter().any(|t| t == target));
            if !self.is_resource_type(target) || !allowed {
                return bad(format!("`{source}:{code}` cannot refer to `{target}`"));
            }
        }
        Ok(Include {
            source_type: Some(source.to_owned()),
            param: param.map(|p| p.code.clone()),
            target_type: target.map(str::to_owned),
            iterate,
        })
    }
}

fn type_name(param_type: ParamType) -> &'static str {
    match param_type {
        ParamType::Number => "number",
        ParamType::Date => "date",
        ParamType::String => "string",
        ParamType::Token => "token",
        ParamType::Reference => "reference",
        ParamType::Composite => "composite",
        ParamType::Quantity => "quantity",
        ParamType::Uri => "uri",
        ParamType::Special => "special",
    }
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// Splits on `separator` where it is not escaped by a backslash (escapes are kept).
pub(crate) fn split_unescaped(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == separator {
            parts.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Removes the search escapes `\,` `\|` `\$` `\\`; other backslashes stay as they are.
pub(crate) fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(next @ (',' | '|' | '$' | '\\')) => out.push(next),
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The prefix of a number, date or quantity value (`ge2020` → `Ge`, `2020`).
fn split_prefix(raw: &str) -> Result<(Prefix, &str), Problem> {
    let bytes = raw.as_bytes();
    if bytes.len() < 2 || !bytes[0].is_ascii_alphabetic() {
        return Ok((Prefix::Eq, raw));
    }
    let prefix = match raw.get(..2).unwrap_or_default() {
        "eq" => Prefix::Eq,
        "ne" => Prefix::Ne,
        "gt" => Prefix::Gt,
        "lt" => Prefix::Lt,
        "ge" => Prefix::Ge,
        "le" => Prefix::Le,
        "sa" => Prefix::Sa,
        "eb" => Prefix::Eb,
        "ap" => Prefix::Ap,
        _ => {
            let shown: String = raw.chars().take(2).collect();
            return bad(format!(
                "`{shown}` is not a prefix (eq, ne, gt, lt, ge, le, sa, eb, ap)"
            ));
        }
    };
    Ok((prefix, &raw[2..]))
}

/// A FHIR decimal, with an optional exponent: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub(crate) fn is_decimal(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let integer = digits(i);
    if integer == 0 || (integer > 1 && bytes[i] == b'0') {
        return false;
    }
    i += integer;
    if bytes.get(i) == Some(&b'.') {
        let fraction = digits(i + 1);
        if fraction == 0 {
            return false;
        }
        i += 1 + fraction;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exponent = digits(i);
        if exponent == 0 || exponent > 6 {
            return false;
        }
        i += exponent;
    }
    i == bytes.len()
}

/// A FHIR id: `[A-Za-z0-9\-\.]{1,64}`.
fn is_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn parse_token(modifier: Option<&Modifier>, raw: &str) -> Result<SearchValue, Problem> {
    let parts = split_unescaped(raw, '|');
    match modifier {
        Some(Modifier::Text) => Ok(SearchValue::Token {
            system: None,
            code: Some(unescape(raw)),
            value: None,
        }),
        Some(Modifier::OfType) => {
            let [system, code, value] = parts.as_slice() else {
                return bad(":of-type takes system|code|value");
            };
            let (code, value) = (unescape(code), unescape(value));
            if code.is_empty() || value.is_empty() {
                return bad(":of-type takes system|code|value with a code and a value");
            }
            Ok(SearchValue::Token {
                system: non_empty(unescape(system)).map(Some),
                code: Some(code),
                value: Some(value),
            })
        }
        _ => match parts.as_slice() {
            [code] => Ok(SearchValue::Token {
                system: None,
                code: Some(unescape(code)),
                value: None,
            }),
            [system, code] => {
                let (system, code) = (non_empty(unescape(system)), non_empty(unescape(code)));
                if system.is_none() && code.is_none() {
                    return bad("a token needs a system or a code");
                }
                Ok(SearchValue::Token {
                    system: Some(system),
                    code,
                    value: None,
                })
            }
            _ => bad("a token is code, system|code, |code or system|"),
        },
    }
}

fn parse_near(raw: &str) -> Result<SearchValue, Problem> {
    let parts: Vec<String> = split_unescaped(raw, '|')
        .into_iter()
        .map(unescape)
        .collect();
    if !(2..=4).contains(&parts.len()) {
        return bad("near takes latitude|longitude|distance|units");
    }
    let number = |text: &str| -> Result<f64, Problem> {
        match text.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && is_decimal(text.trim()) => Ok(n),
            _ => bad(format!("`{text}` is not a number")),
        }
    };
    let latitude = number(&parts[0])?;
    let longitude = number(&parts[1])?;
    if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
        return bad("the latitude or longitude is out of range");
    }
    let distance = match parts.get(2).map(String::as_str) {
        None | Some("") => None,
        Some(text) => Some(number(text)?),
    };
    let factor = match parts.get(3).map(String::as_str) {
        None | Some("" | "km") => 1.0,
        Some("mi" | "[mi_i]") => 1.609_344,
        Some("m") => 0.001,
        Some(other) => return bad(format!("`{other}`: near takes km, mi or m")),
    };
    let distance_km = match distance {
        Some(d) if d < 0.0 => return bad("a negative distance"),
        Some(d) => d * factor,
        None => DEFAULT_NEAR_KM,
    };
    Ok(SearchValue::Near {
        latitude,
        longitude,
        distance_km,
    })
}
