//! FHIRPath (R4, N1 normative) over JSON resources.
//!
//! An [`Expression`] is parsed once (under [`Limits`], for untrusted input) and can be shared
//! between threads; [`Expression::evaluate`] runs it over a borrowed resource and returns
//! [`Item`]s that borrow from the resource where they are nodes of it.
//!
//! ```
//! use fhir_core::fhirpath::{Environment, Expression};
//! let patient = serde_json::json!({"resourceType": "Patient", "birthDate": "1974-12-25"});
//! let expression = Expression::parse("Patient.birthDate < @2000-01-01").unwrap();
//! let env = Environment::new();
//! let result = expression.evaluate(&patient, &env).unwrap();
//! assert_eq!(result[0].to_json(), serde_json::json!(true));
//! ```

mod ast;
pub mod datetime;
pub mod decimal;
mod eval;
mod functions;
mod item;
mod lexer;
mod navigation;
mod operators;
mod parser;
pub mod quantity;
mod types;

use std::cell::{Cell, OnceCell};
use std::collections::HashMap;

use serde_json::Value;

pub use item::{Item, Node};

/// Everything that can go wrong parsing or evaluating an expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FhirPathError {
    /// The expression is not valid FHIRPath.
    #[error("FHIRPath syntax error {0}")]
    Parse(String),
    /// The expression is longer or deeper than the [`Limits`] allow.
    #[error("FHIRPath expression over the limit: {0}")]
    Limit(String),
    /// The expression is valid but cannot be evaluated on this input (a collection where one item
    /// is required, incompatible operands …).
    #[error("FHIRPath evaluation error: {0}")]
    Evaluation(String),
    /// A function or feature this engine does not provide (`memberOf`, …).
    #[error("FHIRPath feature not supported: {0}")]
    Unsupported(String),
}

/// Bounds for expressions from untrusted sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest accepted expression, in bytes.
    pub max_length: usize,
    /// The deepest accepted nesting of the syntax tree.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_length: 4096,
            max_depth: 64,
        }
    }
}

/// Looks references up in the store for `resolve()`.
pub trait Resolver: Send + Sync {
    /// The resource a reference (`Patient/123`, an absolute URL …) points to, if known.
    fn resolve(&self, reference: &str) -> Option<Value>;
}

/// How many resolved resources one arena chunk holds.
const ARENA_CHUNK: usize = 16;

/// Keeps resources returned by a [`Resolver`] alive for the whole evaluation, so that items can
/// borrow from them like from the input. Append-only chunks of write-once cells: no unsafe code,
/// and earlier borrows stay valid while more values are added.
#[derive(Default)]
struct Arena {
    slots: [OnceCell<Value>; ARENA_CHUNK],
    used: Cell<usize>,
    next: OnceCell<Box<Arena>>,
}

impl Arena {
    fn alloc(&self, value: Value) -> &Value {
        let index = self.used.get();
        if index < ARENA_CHUNK {
            self.used.set(index + 1);
            let slot = &self.slots[index];
            let _ = slot.set(value);
            return slot.get().expect("just set");
        }
        self.next.get_or_init(Box::default).alloc(value)
    }
}

/// The environment of an evaluation: `%resource` (default: the evaluated resource),
/// `%rootResource` (default: `%resource`); `%context` is always what the evaluation starts from, custom `%variables` and an optional [`Resolver`] for `resolve()`.
///
/// It also keeps the resources the resolver returns alive, so results can borrow from them:
/// create one per evaluation (or per thread); it is cheap, and it is not `Sync`.
#[derive(Default)]
pub struct Environment<'a> {
    resource: Option<&'a Value>,
    root_resource: Option<&'a Value>,
    variables: HashMap<String, Vec<Item<'a>>>,
    resolver: Option<&'a dyn Resolver>,
    arena: Arena,
}

impl std::fmt::Debug for Environment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("variables", &self.variables.keys().collect::<Vec<_>>())
            .field("resolver", &self.resolver.is_some())
            .finish()
    }
}

impl<'a> Environment<'a> {
    /// An environment with no variables and no resolver.
    pub fn new() -> Environment<'a> {
        Environment::default()
    }

    /// Sets `%resource` (default: the evaluated resource), e.g. the resource that contains the
    /// evaluated element.
    pub fn with_resource(mut self, resource: &'a Value) -> Environment<'a> {
        self.resource = Some(resource);
        self
    }

    /// Sets `%rootResource` (default: `%resource`), e.g. the Bundle around `%resource`.
    pub fn with_root_resource(mut self, root: &'a Value) -> Environment<'a> {
        self.root_resource = Some(root);
        self
    }

    /// Defines `%name` as a collection.
    pub fn with_variable(mut self, name: &str, value: Vec<Item<'a>>) -> Environment<'a> {
        self.variables.insert(name.to_string(), value);
        self
    }

    /// Uses `resolver` for references that are not found in the Bundle or `contained`.
    pub fn with_resolver(mut self, resolver: &'a dyn Resolver) -> Environment<'a> {
        self.resolver = Some(resolver);
        self
    }
}

/// A parsed FHIRPath expression, ready to evaluate any number of times, from any thread.
#[derive(Debug, Clone)]
pub struct Expression {
    source: String,
    root: ast::Expr,
}

impl Expression {
    /// Parses `src` under the default [`Limits`].
    pub fn parse(src: &str) -> Result<Expression, FhirPathError> {
        Expression::parse_with(src, &Limits::default())
    }

    /// Parses `src`, rejecting expressions longer or deeper than `limits`.
    pub fn parse_with(src: &str, limits: &Limits) -> Result<Expression, FhirPathError> {
        Ok(Expression {
            source: src.to_string(),
            root: parser::parse(src, limits)?,
        })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the expression with `resource` as the context (`%context`, and `%resource`
    /// unless the environment sets it). Items borrow from the resource and from the
    /// environment, which keeps resolved resources alive.
    pub fn evaluate<'a>(
        &self,
        resource: &'a Value,
        env: &'a Environment<'a>,
    ) -> Result<Vec<Item<'a>>, FhirPathError> {
        eval::evaluate(&self.root, Item::resource(resource), env)
    }

    /// Evaluates the expression with any item as the context, such as an element for an
    /// invariant defined on it (`Patient.contact`); set `%resource` in the environment to the
    /// resource that holds it, for `%resource` and `resolve()` of contained references.
    pub fn evaluate_item<'a>(
        &self,
        context: Item<'a>,
        env: &'a Environment<'a>,
    ) -> Result<Vec<Item<'a>>, FhirPathError> {
        eval::evaluate(&self.root, context, env)
    }

    /// Evaluates with an empty environment and returns the items as JSON
    /// (see [`Item::to_json`]).
    pub fn evaluate_json(&self, resource: &Value) -> Result<Vec<Value>, FhirPathError> {
        let env = Environment::new();
        let items = self.evaluate(resource, &env)?;
        Ok(items.iter().map(Item::to_json).collect())
    }

    /// Evaluates as a boolean condition (a constraint or a search filter): `Some(true)` or
    /// `Some(false)` for a single boolean, `None` for an empty result; an error otherwise.
    pub fn evaluate_boolean<'a>(
        &self,
        resource: &'a Value,
        env: &'a Environment<'a>,
    ) -> Result<Option<bool>, FhirPathError> {
        let items = self.evaluate(resource, env)?;
        match items.as_slice() {
            [] => Ok(None),
            [Item::Boolean(b)] => Ok(Some(*b)),
            [item] => match item.primitive() {
                Item::Boolean(b) => Ok(Some(b)),
                _ => Ok(Some(true)),
            },
            _ => Err(FhirPathError::Evaluation(
                "expected a single boolean, found several items".to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
