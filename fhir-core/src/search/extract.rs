//! Extraction of search parameter values from resources.
//!
//! An [`Extractor`] compiles the expression of every parameter of a [`Registry`] once (the
//! `compile` submodule: the FHIRPath subset of the fast path, listed below) and evaluates them
//! over borrowed `serde_json::Value`s, converting each selected node to [`IndexValue`]s by the
//! parameter type and the node's FHIR type (from the R4 model):
//!
//! - string: string/markdown (and other string primitives) as written; HumanName → family, each
//!   given, prefix, suffix, text; Address → each line, city, district, state, postalCode,
//!   country, text;
//! - token: primitives → code; Coding → system, code, display as text; CodeableConcept → one per
//!   coding, its text added to each (only a text: a token without code); Identifier → system,
//!   value, type.text, type codings for `:of-type`; ContactPoint → its value;
//! - reference: Reference → type and id (`Type/id`, `Type/id/_history/v`, an absolute URL ending
//!   in `Type/id` of a known type also keeps `url`: whether it is this server is for the
//!   caller to decide), `urn:uuid:`/`urn:oid:` → url only, `#id` →
//!   the contained resource's type with no id and `url` `#id` (a contained resource has no
//!   identity of its own on the server); a bare id takes the single target type of the
//!   parameter; `Reference.identifier` is kept for `:identifier`; canonical/uri → url without
//!   `|version` (and type/id when it ends in `Type/id`); a resource (`Bundle.entry[0].resource`)
//!   → its type and id;
//! - date: date/dateTime/instant → their range; Period → [start, end) with open ends; Timing →
//!   each event and `repeat.boundsPeriod`;
//! - number: integer/decimal … as written;
//! - quantity: Quantity and its specialisations (Age, Duration …); Money → value with the ISO
//!   4217 system and the currency as code; Range → its low and its high (R4 does not define
//!   Range matching: indexing both bounds makes the parameter present and lets comparisons
//!   against either bound match); SampledData → nothing;
//! - uri: string primitives as written;
//! - composite: for each item of the composite expression, each component's expression
//!   relative to it; one tuple per item whose every component has a value;
//! - special (`near`): `Location.position` → latitude and longitude.
//!
//! The fast path covers paths from a type name, the context or `%resource`; unions `|`;
//! `as T`, `as(T)`, `ofType(T)` (a choice element `value` as `Quantity` reads `valueQuantity`);
//! `where(resolve() is T)` (decided from the reference: `Type/id`, an absolute URL, `#id` of a
//! contained resource); `where(path = 'literal')`; `[n]` and `first()`; `extension('url')`; and
//! as a whole expression `X.exists()` or `X.exists() and X != false` (one boolean token). It
//! compiles all 1,375 official R4 expressions.
//!
//! `_text` gives the narrative text and `_content` the text of the whole resource (one string
//! each); `_query` gives nothing. Expressions outside the fast path extract nothing and are
//! listed by [`Extractor::unsupported_expressions`].

mod compile;
mod text;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::model::Model;
use crate::search::IndexValue;
use crate::search::ParamType;
use crate::search::params::{Registry, SearchParam};
use compile::{DYNAMIC, Expr, Filter, Path, Scope, Start, Step, Tail, TypeName};

pub use text::{content_text, narrative_text};

/// The ISO 4217 currency code system, for Money as a quantity.
const CURRENCY_SYSTEM: &str = "urn:iso:std:iso:4217";

/// A compiled parameter.
#[derive(Debug, Clone)]
enum Compiled {
    /// A path expression.
    Expr(Expr),
    /// A composite: per path of the composite's expression, the compiled components.
    Composite(Vec<CompositePart>),
    /// `_text`: the narrative.
    Narrative,
    /// `_content`: every text of the resource.
    Content,
    /// Nothing to extract (`_query`, special parameters without an expression).
    Nothing,
    /// Outside the fast path, evaluated by the general FHIRPath engine (tenant-defined
    /// parameters with expressions the fast path does not know).
    General(crate::fhirpath::Expression),
    /// Neither path nor engine can evaluate it: the reason. Extracts nothing.
    Unsupported(String),
}

#[derive(Debug, Clone)]
struct CompositePart {
    path: Path,
    components: Vec<CompiledComponent>,
}

#[derive(Debug, Clone)]
struct CompiledComponent {
    param_type: ParamType,
    targets: Vec<String>,
    expr: Expr,
}

impl Compiled {
    /// The parameter limited to `resource_type` (`None` when nothing applies).
    fn restrict(&self, resource_type: &str) -> Option<Compiled> {
        match self {
            Compiled::Expr(expr) => expr.restrict(resource_type).map(Compiled::Expr),
            Compiled::Composite(parts) => {
                let parts: Vec<CompositePart> = parts
                    .iter()
                    .filter(|p| p.path.applies_to(resource_type))
                    .cloned()
                    .collect();
                (!parts.is_empty()).then_some(Compiled::Composite(parts))
            }
            Compiled::Narrative | Compiled::Content | Compiled::General(_) => Some(self.clone()),
            Compiled::Nothing | Compiled::Unsupported(_) => None,
        }
    }
}

/// The parameters of one resource type, ready to evaluate.
#[derive(Debug)]
struct TypePlan {
    /// The type name, borrowed from the model.
    ty: TypeName,
    /// (index of the parameter in the registry, compiled for this type).
    params: Vec<(usize, Compiled)>,
    /// Code → position in `params`.
    by_code: HashMap<String, usize>,
}

/// Compiled search parameters of a registry, evaluated over borrowed JSON. Build it once per
/// registry (compiling the 1,375 official parameters takes about 20 ms in an optimised build).
#[derive(Debug)]
pub struct Extractor {
    registry: Registry,
    compiled: Vec<Compiled>,
    plans: HashMap<String, TypePlan>,
}

/// One resource being evaluated, with the type of each selected node.
#[derive(Debug, Clone, Copy)]
struct Item<'v> {
    value: &'v Value,
    ty: TypeName,
}

impl Extractor {
    /// The extractor of the official R4 parameters.
    pub fn r4() -> &'static Extractor {
        static R4: OnceLock<Extractor> = OnceLock::new();
        R4.get_or_init(|| Extractor::new(Registry::r4()))
    }

    /// Compiles every parameter of `registry` (which is copied).
    pub fn new(registry: &Registry) -> Extractor {
        let registry = registry.clone();
        let compiled: Vec<Compiled> = registry
            .params()
            .iter()
            .map(|param| compile_param(param, &registry))
            .collect();
        let model = Model::r4();
        let mut plans = HashMap::new();
        for type_name in registry.type_names() {
            let Some(type_def) = model.resource_type(type_name) else {
                continue;
            };
            let mut params = Vec::new();
            let mut by_code = HashMap::new();
            for &index in registry.indexes_for(type_name) {
                if let Some(restricted) = compiled[index].restrict(type_name) {
                    by_code.insert(registry.params()[index].code.clone(), params.len());
                    params.push((index, restricted));
                }
            }
            plans.insert(
                type_name.to_owned(),
                TypePlan {
                    ty: type_def.name.as_str(),
                    params,
                    by_code,
                },
            );
        }
        Extractor {
            registry,
            compiled,
            plans,
        }
    }

    /// The registry the extractor was built from.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Checks that the fast path can evaluate `param` (with the other parameters of
    /// `registry`, for the components of a composite): the reason when it cannot.
    pub fn check(registry: &Registry, param: &SearchParam) -> Result<(), String> {
        match compile_param(param, registry) {
            Compiled::Unsupported(reason) => Err(reason),
            _ => Ok(()),
        }
    }

    /// The parameters whose expression the fast path cannot evaluate, with the reason. They
    /// extract nothing until a general FHIRPath engine is wired in.
    pub fn unsupported_expressions(&self) -> Vec<(&SearchParam, String)> {
        self.compiled
            .iter()
            .zip(self.registry.params())
            .filter_map(|(compiled, param)| match compiled {
                Compiled::Unsupported(reason) => Some((param, reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// The values of every parameter of `resource_type` in `resource`, omitting parameters
    /// without values, in registry order.
    pub fn extract<'a>(
        &'a self,
        resource_type: &str,
        resource: &Value,
    ) -> Vec<(&'a SearchParam, Vec<IndexValue>)> {
        let Some(plan) = self.plans.get(resource_type) else {
            return Vec::new();
        };
        let params = self.registry.params();
        let mut out = Vec::with_capacity(plan.params.len());
        let mut buffers = Buffers::new();
        for (index, compiled) in &plan.params {
            let param = &params[*index];
            let values = evaluate(compiled, param, plan.ty, resource, &mut buffers);
            if !values.is_empty() {
                out.push((param, values));
            }
        }
        out
    }

    /// The values of one parameter (`code`) of `resource_type` in `resource`; empty for an
    /// unknown parameter.
    pub fn extract_param(
        &self,
        resource_type: &str,
        code: &str,
        resource: &Value,
    ) -> Vec<IndexValue> {
        let Some(plan) = self.plans.get(resource_type) else {
            return Vec::new();
        };
        let Some(&position) = plan.by_code.get(code) else {
            return Vec::new();
        };
        let (index, compiled) = &plan.params[position];
        let param = &self.registry.params()[*index];
        evaluate(compiled, param, plan.ty, resource, &mut Buffers::new())
    }
}

impl Extractor {
    /// `true` when a resource of `resource_type` has at most one value of the date parameter
    /// `code`, a date, dateTime or instant (whose range is never empty, unlike a Period that
    /// may end before it starts): one path through elements that do not repeat (or `first()`,
    /// `[n]` after one that does), with one JSON name at each step. The search index then
    /// decides `eq` on it exactly: the start and the end it holds belong to the same value.
    pub fn single_date(&self, resource_type: &str, code: &str) -> bool {
        let Some(plan) = self.plans.get(resource_type) else {
            return false;
        };
        let Some(&position) = plan.by_code.get(code) else {
            return false;
        };
        let Compiled::Expr(expr) = &plan.params[position].1 else {
            return false;
        };
        let [path] = expr.paths.as_slice() else {
            return false;
        };
        if expr.tail != Tail::Nodes {
            return false;
        }
        let model = Model::r4();
        let mut many = false;
        let mut ty: TypeName = plan.ty;
        for step in &path.steps {
            match step {
                Step::Child(alts) => {
                    let [alt] = alts.as_slice() else {
                        return false;
                    };
                    let Some(found) = model.element(alt.src, &alt.key) else {
                        return false;
                    };
                    many |= found.element.many;
                    ty = alt.ty;
                }
                Step::First | Step::Index(_) => many = false,
                Step::Where(_) | Step::OfType(_) => {}
                Step::DynamicChild(_) => return false,
            }
        }
        !many && matches!(ty, "date" | "dateTime" | "instant")
    }
}

/// Compiles one parameter.
fn compile_param(param: &SearchParam, registry: &Registry) -> Compiled {
    let model = Model::r4();
    let Some(expression) = &param.expression else {
        return match param.code.as_str() {
            "_text" => Compiled::Narrative,
            "_content" => Compiled::Content,
            _ => Compiled::Nothing,
        };
    };
    // Expressions can come from users (tenant SearchParameters): limit them before any parser
    // sees them, the fast path's included.
    let limits = crate::fhirpath::Limits::default();
    if expression.len() > limits.max_length {
        return Compiled::Unsupported(format!(
            "the expression is longer than {} bytes",
            limits.max_length
        ));
    }
    let mut depth = 0usize;
    let mut deepest = 0usize;
    for byte in expression.bytes() {
        match byte {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > limits.max_depth {
        return Compiled::Unsupported(format!(
            "the expression nests deeper than {} levels",
            limits.max_depth
        ));
    }
    let bases: Vec<TypeName> = param
        .base
        .iter()
        .filter_map(|b| model.type_def(b).map(|t| t.name.as_str()))
        .collect();
    if bases.is_empty() {
        return Compiled::Unsupported(format!("unknown base {:?}", param.base));
    }
    let scope = Scope {
        context: bases.clone(),
        resource: bases,
    };
    let expr = match compile::compile(expression, &scope) {
        Ok(expr) => expr,
        Err(reason) if param.param_type != ParamType::Composite => {
            // The general engine, with the limits of expressions that come from users.
            return match crate::fhirpath::Expression::parse_with(
                expression,
                &crate::fhirpath::Limits::default(),
            ) {
                Ok(general) => Compiled::General(general),
                Err(error) => Compiled::Unsupported(format!("{reason}; {error}")),
            };
        }
        Err(reason) => return Compiled::Unsupported(reason),
    };
    if param.param_type != ParamType::Composite {
        return Compiled::Expr(expr);
    }
    if expr.tail != Tail::Nodes {
        return Compiled::Unsupported("a composite of booleans".to_owned());
    }
    let mut parts = Vec::new();
    for path in expr.paths {
        // The static types of the items this path selects, to compile the components against.
        let item_types = match path_types(&path) {
            Some(types) => types,
            None => return Compiled::Unsupported("untyped composite items".to_owned()),
        };
        let resource_types = match path.start {
            Start::Root(root) => vec![root],
            _ => scope.resource.clone(),
        };
        let component_scope = Scope {
            context: item_types,
            resource: resource_types,
        };
        let mut components = Vec::new();
        for component in &param.components {
            let Some(definition) = registry.by_url(&component.definition) else {
                return Compiled::Unsupported(format!(
                    "unknown component {}",
                    component.definition
                ));
            };
            let expr = match compile::compile(&component.expression, &component_scope) {
                Ok(expr) => expr,
                Err(reason) => {
                    return Compiled::Unsupported(format!(
                        "component {}: {reason}",
                        component.expression
                    ));
                }
            };
            components.push(CompiledComponent {
                param_type: definition.param_type,
                targets: definition.targets.clone(),
                expr,
            });
        }
        parts.push(CompositePart { path, components });
    }
    Compiled::Composite(parts)
}

/// The static types of what a path selects (its root type, or the types of its last child
/// step); `None` when only known at evaluation.
fn path_types(path: &Path) -> Option<Vec<TypeName>> {
    let mut types = match path.start {
        Start::Root(root) => vec![root],
        _ => return None,
    };
    for step in &path.steps {
        match step {
            Step::Child(alts) => {
                types = Vec::new();
                for alt in alts {
                    if !types.contains(&alt.ty) {
                        types.push(alt.ty);
                    }
                }
            }
            Step::DynamicChild(_) => return None,
            Step::OfType(name) => {
                types.retain(|t| compile::is_a(t, name));
            }
            Step::Where(_) | Step::First | Step::Index(_) => {}
        }
    }
    Some(types)
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Item lists reused by the evaluation of every parameter of a resource.
struct Buffers<'v> {
    items: Vec<Item<'v>>,
    scratch: Vec<Item<'v>>,
}

impl Buffers<'_> {
    fn new() -> Self {
        Buffers {
            items: Vec::with_capacity(16),
            scratch: Vec::with_capacity(16),
        }
    }
}

fn evaluate<'v>(
    compiled: &Compiled,
    param: &SearchParam,
    resource_type: TypeName,
    resource: &'v Value,
    buffers: &mut Buffers<'v>,
) -> Vec<IndexValue> {
    let root = Item {
        value: resource,
        ty: resource_type,
    };
    let mut out = Vec::new();
    match compiled {
        Compiled::Expr(expr) => {
            evaluate_expr(
                expr,
                param.param_type,
                &param.targets,
                root,
                &[root],
                buffers,
                &mut out,
            );
        }
        Compiled::Composite(parts) => {
            let mut items = Vec::new();
            for part in parts {
                items.clear();
                evaluate_path(&part.path, root, &[root], &mut items, &mut buffers.scratch);
                for &item in &items {
                    let mut tuple = Vec::with_capacity(part.components.len());
                    for component in &part.components {
                        let mut values = Vec::new();
                        evaluate_expr(
                            &component.expr,
                            component.param_type,
                            &component.targets,
                            root,
                            &[item],
                            buffers,
                            &mut values,
                        );
                        if values.is_empty() {
                            break;
                        }
                        tuple.push(values);
                    }
                    if tuple.len() == part.components.len() {
                        out.push(IndexValue::Composite(tuple));
                    }
                }
            }
        }
        Compiled::Narrative => {
            let text = narrative_text(resource);
            if !text.is_empty() {
                out.push(IndexValue::String(text));
            }
        }
        Compiled::Content => {
            let text = content_text(resource);
            if !text.is_empty() {
                out.push(IndexValue::String(text));
            }
        }
        Compiled::General(expression) => {
            let env = crate::fhirpath::Environment::new();
            // An expression that fails on this resource gives it no values, as a path that
            // finds nothing would.
            if let Ok(items) = expression.evaluate(resource, &env) {
                for item in items {
                    general_item(param, &item, resource, &mut out);
                }
            }
        }
        Compiled::Nothing | Compiled::Unsupported(_) => {}
    }
    out
}

/// Converts one result of the general engine.
fn general_item(
    param: &SearchParam,
    item: &crate::fhirpath::Item<'_>,
    root: &Value,
    out: &mut Vec<IndexValue>,
) {
    use crate::fhirpath::Item as F;
    match item {
        F::Node(node) => {
            if let Some(value) = node.value {
                let item = Item {
                    value,
                    ty: node.type_name,
                };
                convert(param.param_type, &param.targets, item, root, out);
            }
        }
        F::String(text) => match param.param_type {
            ParamType::String => out.push(IndexValue::String(text.clone())),
            ParamType::Uri => out.push(IndexValue::Uri(text.clone())),
            _ => out.push(token(None, Some(text.clone()), Vec::new())),
        },
        F::Boolean(flag) => out.push(token(None, Some(flag.to_string()), Vec::new())),
        F::Integer(number) => out.push(IndexValue::Number(number.to_string())),
        _ => {}
    }
}

fn evaluate_expr<'v>(
    expr: &Expr,
    param_type: ParamType,
    targets: &[String],
    root: Item<'v>,
    context: &[Item<'v>],
    buffers: &mut Buffers<'v>,
    out: &mut Vec<IndexValue>,
) {
    buffers.items.clear();
    for path in &expr.paths {
        evaluate_path(
            path,
            root,
            context,
            &mut buffers.items,
            &mut buffers.scratch,
        );
    }
    let items = &buffers.items;
    match expr.tail {
        Tail::Nodes => {
            for &item in items {
                convert(param_type, targets, item, root.value, out);
            }
        }
        Tail::Exists | Tail::ExistsNotFalse => {
            let mut result = !items.is_empty();
            if expr.tail == Tail::ExistsNotFalse && items.iter().any(|i| *i.value == false) {
                result = false;
            }
            out.push(IndexValue::Token {
                system: None,
                code: Some(result.to_string()),
                text: Vec::new(),
                of_type: Vec::new(),
            });
        }
    }
}

/// The property `key` of an object. Small objects are scanned, which is cheaper than hashing.
fn property<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    let Value::Object(map) = value else {
        return None;
    };
    if map.len() <= 8 {
        map.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// Pushes the children of `value` (each element of an array) to `out`.
fn push_children<'v>(value: Option<&'v Value>, ty: TypeName, out: &mut Vec<Item<'v>>) {
    match value {
        Some(Value::Array(items)) => out.extend(
            items
                .iter()
                .filter(|v| !v.is_null())
                .map(|value| Item { value, ty }),
        ),
        Some(Value::Null) | None => {}
        Some(value) => out.push(Item { value, ty }),
    }
}

/// `true` when two model type names are the same (they usually are the same string).
fn same_type(a: TypeName, b: TypeName) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// Evaluates a path, appending what it selects to `out` (`scratch` is a work list).
fn evaluate_path<'v>(
    path: &Path,
    root: Item<'v>,
    context: &[Item<'v>],
    out: &mut Vec<Item<'v>>,
    scratch: &mut Vec<Item<'v>>,
) {
    let base = out.len();
    match path.start {
        Start::Root(ty) => out.push(Item {
            value: root.value,
            ty,
        }),
        Start::Context => out.extend_from_slice(context),
        Start::Resource => out.push(root),
    }
    for step in &path.steps {
        scratch.clear();
        let current = &out[base..];
        match step {
            Step::Child(alts) => {
                for item in current {
                    for alt in alts {
                        if same_type(alt.src, item.ty) {
                            push_children(property(item.value, &alt.key), alt.ty, scratch);
                        }
                    }
                }
            }
            Step::DynamicChild(name) => {
                for item in current {
                    dynamic_children(*item, name, scratch);
                }
            }
            Step::OfType(type_name) => {
                for item in current {
                    let ty = actual_type(*item);
                    if compile::is_a(ty, type_name) {
                        scratch.push(Item {
                            value: item.value,
                            ty,
                        });
                    }
                }
            }
            Step::Where(filter) => {
                scratch.extend(
                    current
                        .iter()
                        .filter(|item| passes(filter, item.value, root.value)),
                );
            }
            Step::First => scratch.extend(current.first()),
            Step::Index(index) => scratch.extend(current.get(*index)),
        }
        out.truncate(base);
        if scratch.is_empty() {
            return;
        }
        out.extend_from_slice(scratch);
    }
}

/// The type of an item, reading `resourceType` for a resource typed only as `Resource`.
fn actual_type(item: Item<'_>) -> TypeName {
    if item.ty == DYNAMIC || item.ty == "Resource" || item.ty == "DomainResource" {
        let model = Model::r4();
        if let Some(type_def) = item.value["resourceType"]
            .as_str()
            .and_then(|name| model.resource_type(name))
        {
            return type_def.name.as_str();
        }
    }
    item.ty
}

/// Children of an item whose type is only known now.
fn dynamic_children<'v>(item: Item<'v>, name: &str, out: &mut Vec<Item<'v>>) {
    let model = Model::r4();
    let ty = actual_type(item);
    let Some(type_def) = model.type_def(ty) else {
        return;
    };
    let Some(element) = type_def.elements.iter().find(|e| e.name == name) else {
        return;
    };
    if element.choice {
        for type_ref in &element.types {
            let key = format!("{name}{}", crate::model::capitalise(&type_ref.code));
            push_children(item.value.get(&key), type_ref.code.as_str(), out);
        }
    } else if let Some(type_ref) = element.types.first() {
        push_children(item.value.get(name), type_ref.code.as_str(), out);
    }
}

/// Whether a node passes a `where(…)` filter.
fn passes(filter: &Filter, value: &Value, root: &Value) -> bool {
    match filter {
        Filter::Resolves(type_name) => value
            .as_str()
            .or_else(|| value["reference"].as_str())
            .and_then(|reference| reference_type(reference, root))
            .is_some_and(|ty| ty == type_name.as_str()),
        Filter::Equals(path, literal) => {
            let mut nodes = vec![value];
            for name in path {
                let mut next = Vec::new();
                for node in nodes {
                    match node.get(name) {
                        Some(Value::Array(items)) => next.extend(items.iter()),
                        Some(child) => next.push(child),
                        None => {}
                    }
                }
                nodes = next;
            }
            nodes.iter().any(|node| match node {
                Value::String(s) => s == literal,
                Value::Bool(b) => b.to_string() == *literal,
                Value::Number(n) => n.to_string() == *literal,
                _ => false,
            })
        }
    }
}

/// The type of the resource a reference points to, when the reference says it (`Type/id`, an
/// absolute URL ending so, `#id` of a contained resource).
fn reference_type<'r>(reference: &'r str, root: &'r Value) -> Option<&'r str> {
    if let Some(id) = reference.strip_prefix('#') {
        return contained(root, id).and_then(|r| r["resourceType"].as_str());
    }
    parse_reference(reference).map(|(ty, _)| ty)
}

/// The contained resource with this id.
fn contained<'v>(root: &'v Value, id: &str) -> Option<&'v Value> {
    root["contained"]
        .as_array()?
        .iter()
        .find(|r| r["id"].as_str() == Some(id))
}

/// `(type, id)` of `Type/id`, `Type/id/_history/v`, or an absolute URL ending so, when `Type` is
/// an R4 resource type.
fn parse_reference(reference: &str) -> Option<(&str, &str)> {
    let path = reference.split(['?', '#']).next().unwrap_or(reference);
    let path = path.trim_end_matches('/');
    let mut segments: Vec<&str> = path.rsplit('/').take(4).collect();
    segments.reverse();
    // segments: the last (up to) four parts, in order.
    let (ty, id) = match segments.as_slice() {
        [.., ty, id, "_history", _version] => (*ty, *id),
        [.., ty, id] => (*ty, *id),
        _ => return None,
    };
    if id.is_empty() || Model::r4().resource_type(ty).is_none() {
        return None;
    }
    Some((ty, id))
}

// ---------------------------------------------------------------------------------------------
// Conversion

fn string_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn strings<'v>(value: &'v Value) -> impl Iterator<Item = &'v str> {
    let items: &'v [Value] = match value {
        Value::Array(items) => items.as_slice(),
        Value::Null => &[],
        single => std::slice::from_ref(single),
    };
    items
        .iter()
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Converts one selected node to values of a parameter of type `param_type`.
fn convert(
    param_type: ParamType,
    targets: &[String],
    item: Item<'_>,
    root: &Value,
    out: &mut Vec<IndexValue>,
) {
    let value = item.value;
    let ty = actual_type(item);
    match param_type {
        ParamType::String => match ty {
            "HumanName" => {
                for key in ["family", "given", "prefix", "suffix", "text"] {
                    out.extend(strings(&value[key]).map(|s| IndexValue::String(s.to_owned())));
                }
            }
            "Address" => {
                for key in [
                    "line",
                    "city",
                    "district",
                    "state",
                    "postalCode",
                    "country",
                    "text",
                ] {
                    out.extend(strings(&value[key]).map(|s| IndexValue::String(s.to_owned())));
                }
            }
            _ => out.extend(string_of(value).map(IndexValue::String)),
        },
        ParamType::Token => convert_token(ty, value, out),
        ParamType::Reference => convert_reference(ty, value, targets, root, out),
        ParamType::Date => convert_date(ty, value, out),
        ParamType::Number => {
            if let Value::Number(n) = value {
                out.push(IndexValue::Number(n.to_string()));
            }
        }
        ParamType::Quantity => convert_quantity(ty, value, out),
        ParamType::Uri => out.extend(string_of(value).map(IndexValue::Uri)),
        ParamType::Special => {
            let latitude = value["latitude"].as_f64();
            let longitude = value["longitude"].as_f64();
            if let (Some(latitude), Some(longitude)) = (latitude, longitude) {
                out.push(IndexValue::Position {
                    latitude,
                    longitude,
                });
            }
        }
        // Composites are evaluated by their components.
        ParamType::Composite => {}
    }
}

fn token(system: Option<String>, code: Option<String>, text: Vec<String>) -> IndexValue {
    IndexValue::Token {
        system,
        code,
        text,
        of_type: Vec::new(),
    }
}

fn convert_token(ty: &str, value: &Value, out: &mut Vec<IndexValue>) {
    match ty {
        "Coding" => {
            if value.is_object() {
                let text = string_of(&value["display"]).into_iter().collect();
                out.push(token(
                    string_of(&value["system"]),
                    string_of(&value["code"]),
                    text,
                ));
            }
        }
        "CodeableConcept" => {
            let concept_text = string_of(&value["text"]);
            let mut any = false;
            for coding in value["coding"].as_array().into_iter().flatten() {
                let mut text: Vec<String> = string_of(&coding["display"]).into_iter().collect();
                text.extend(concept_text.clone());
                out.push(token(
                    string_of(&coding["system"]),
                    string_of(&coding["code"]),
                    text,
                ));
                any = true;
            }
            if !any && let Some(text) = concept_text {
                out.push(token(None, None, vec![text]));
            }
        }
        "Identifier" => {
            if value.is_object() {
                let of_type = value["type"]["coding"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| (string_of(&c["system"]), string_of(&c["code"])))
                    .collect();
                out.push(IndexValue::Token {
                    system: string_of(&value["system"]),
                    code: string_of(&value["value"]),
                    text: string_of(&value["type"]["text"]).into_iter().collect(),
                    of_type,
                });
            }
        }
        "ContactPoint" => {
            if let Some(code) = string_of(&value["value"]) {
                out.push(token(None, Some(code), Vec::new()));
            }
        }
        _ => {
            let code = match value {
                Value::String(s) if !s.is_empty() => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => return,
            };
            out.push(token(None, Some(code), Vec::new()));
        }
    }
}

fn convert_reference(
    ty: &str,
    value: &Value,
    targets: &[String],
    root: &Value,
    out: &mut Vec<IndexValue>,
) {
    match value {
        Value::String(text) => {
            // canonical, uri, url: the URL without `|version`.
            let url = text.split('|').next().unwrap_or(text);
            if url.is_empty() {
                return;
            }
            let (resource_type, id) = match parse_reference(url) {
                Some((t, i)) => (Some(t.to_owned()), Some(i.to_owned())),
                None => (None, None),
            };
            out.push(IndexValue::Reference {
                resource_type,
                id,
                url: Some(url.to_owned()),
                identifier: None,
            });
        }
        Value::Object(object) if ty == "Reference" => {
            let identifier = object.get("identifier").and_then(|identifier| {
                let system = string_of(&identifier["system"]);
                let value = string_of(&identifier["value"]);
                (system.is_some() || value.is_some()).then_some((system, value))
            });
            let declared_type = object.get("type").and_then(string_of);
            let reference = object.get("reference").and_then(Value::as_str);
            let (resource_type, id, url) = match reference {
                Some(reference) => reference_parts(reference, targets, root),
                None => (None, None, None),
            };
            if resource_type.is_none() && id.is_none() && url.is_none() && identifier.is_none() {
                return;
            }
            out.push(IndexValue::Reference {
                resource_type: resource_type.or(declared_type),
                id,
                url,
                identifier,
            });
        }
        Value::Object(object) => {
            // A resource in place (`Bundle.entry[0].resource`).
            if let Some(resource_type) = object.get("resourceType").and_then(string_of) {
                out.push(IndexValue::Reference {
                    resource_type: Some(resource_type),
                    id: object.get("id").and_then(string_of),
                    url: None,
                    identifier: None,
                });
            }
        }
        _ => {}
    }
}

/// `(resource_type, id, url)` of a reference string.
fn reference_parts(
    reference: &str,
    targets: &[String],
    root: &Value,
) -> (Option<String>, Option<String>, Option<String>) {
    if reference.is_empty() {
        return (None, None, None);
    }
    if let Some(id) = reference.strip_prefix('#') {
        let ty = contained(root, id)
            .and_then(|r| r["resourceType"].as_str())
            .map(str::to_owned);
        return (ty, None, Some(reference.to_owned()));
    }
    if reference.starts_with("urn:") {
        return (None, None, Some(reference.to_owned()));
    }
    let absolute = reference.contains("://");
    match parse_reference(reference) {
        Some((ty, id)) => (
            Some(ty.to_owned()),
            Some(id.to_owned()),
            absolute.then(|| reference.to_owned()),
        ),
        None if absolute => (None, None, Some(reference.to_owned())),
        None if !reference.contains('/') && !reference.contains('?') => {
            // A bare id: the type is known when the parameter has one target.
            let ty = match targets {
                [only] => Some(only.clone()),
                _ => None,
            };
            (ty, Some(reference.to_owned()), None)
        }
        None => (None, None, Some(reference.to_owned())),
    }
}

fn range_of(text: &Value) -> Option<(i64, i64)> {
    crate::time::parse_range(text.as_str()?)
}

fn convert_date(ty: &str, value: &Value, out: &mut Vec<IndexValue>) {
    match ty {
        "Period" => {
            let start = range_of(&value["start"]).map(|r| r.0);
            let end = range_of(&value["end"]).map(|r| r.1);
            if start.is_some() || end.is_some() {
                out.push(IndexValue::Date {
                    start: start.unwrap_or(i64::MIN),
                    end: end.unwrap_or(i64::MAX),
                });
            }
        }
        "Timing" => {
            for event in value["event"].as_array().into_iter().flatten() {
                if let Some((start, end)) = range_of(event) {
                    out.push(IndexValue::Date { start, end });
                }
            }
            let bounds = &value["repeat"]["boundsPeriod"];
            if bounds.is_object() {
                convert_date("Period", bounds, out);
            }
        }
        _ => {
            if let Some((start, end)) = range_of(value) {
                out.push(IndexValue::Date { start, end });
            }
        }
    }
}

fn quantity(value: &Value) -> Option<IndexValue> {
    let Value::Number(number) = &value["value"] else {
        return None;
    };
    Some(IndexValue::Quantity {
        value: number.to_string(),
        system: string_of(&value["system"]),
        code: string_of(&value["code"]),
        unit: string_of(&value["unit"]),
    })
}

fn convert_quantity(ty: &str, value: &Value, out: &mut Vec<IndexValue>) {
    match ty {
        "Money" => {
            if let Value::Number(number) = &value["value"] {
                out.push(IndexValue::Quantity {
                    value: number.to_string(),
                    system: Some(CURRENCY_SYSTEM.to_owned()),
                    code: string_of(&value["currency"]),
                    unit: None,
                });
            }
        }
        "Range" => {
            out.extend(quantity(&value["low"]));
            out.extend(quantity(&value["high"]));
        }
        "SampledData" => {}
        _ => out.extend(quantity(value)),
    }
}

#[cfg(test)]
mod tests;
