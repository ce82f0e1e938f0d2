//! The FHIRPath function library, dispatched by name.
//!
//! - [`collections`]: existence, filtering, subsetting, combining, aggregates;
//! - [`strings`]: string manipulation and regular expressions;
//! - [`math`]: numbers, boundaries and precision;
//! - [`conversion`]: `iif`, `toX` / `convertsToX`;
//! - [`fhir`]: the FHIR additions (`extension`, `resolve`, `hasValue` …) and type functions.

mod collections;
mod conversion;
mod fhir;
mod math;
mod strings;

use super::ast::Expr;
use super::eval::{Collection, Result, Scope, error, eval};
use super::item::Item;

/// Every function name the library knows, so that a misspelt function is a parse error rather
/// than an error on the first evaluation that reaches it.
const KNOWN: &[&str] = &[
    // collections
    "empty",
    "exists",
    "all",
    "allTrue",
    "anyTrue",
    "allFalse",
    "anyFalse",
    "subsetOf",
    "supersetOf",
    "count",
    "distinct",
    "isDistinct",
    "where",
    "select",
    "repeat",
    "aggregate",
    "first",
    "last",
    "tail",
    "skip",
    "take",
    "single",
    "intersect",
    "exclude",
    "union",
    "combine",
    "not",
    "children",
    "descendants",
    "trace",
    "sort",
    // strings
    "indexOf",
    "lastIndexOf",
    "substring",
    "startsWith",
    "endsWith",
    "contains",
    "upper",
    "lower",
    "replace",
    "matches",
    "matchesFull",
    "replaceMatches",
    "length",
    "toChars",
    "trim",
    "split",
    "join",
    "encode",
    "decode",
    "escape",
    "unescape",
    "concat",
    // math
    "abs",
    "ceiling",
    "exp",
    "floor",
    "ln",
    "log",
    "power",
    "round",
    "sqrt",
    "truncate",
    "lowBoundary",
    "highBoundary",
    "precision",
    "comparable",
    // conversion
    "iif",
    "toBoolean",
    "convertsToBoolean",
    "toInteger",
    "convertsToInteger",
    "toDecimal",
    "convertsToDecimal",
    "toString",
    "convertsToString",
    "toDate",
    "convertsToDate",
    "toDateTime",
    "convertsToDateTime",
    "toTime",
    "convertsToTime",
    "toQuantity",
    "convertsToQuantity",
    // FHIR and types
    "extension",
    "hasValue",
    "getValue",
    "is",
    "as",
    "ofType",
    "type",
    "conformsTo",
    "memberOf",
    "subsumes",
    "subsumedBy",
    "htmlChecks",
    "htmlchecks",
    "resolve",
    "now",
    "today",
    "timeOfDay",
];

/// `true` when `name` is a function of the library.
pub(crate) fn is_known(name: &str) -> bool {
    KNOWN.contains(&name)
}

/// Evaluates an argument with `$this` being the current focus of the call.
pub(crate) fn arg<'a>(
    args: &[Expr],
    index: usize,
    focus: &[Item<'a>],
    scope: &Scope<'a>,
) -> Result<Collection<'a>> {
    match args.get(index) {
        Some(expr) => eval(expr, focus, scope),
        None => error(format!("missing argument {}", index + 1)),
    }
}

/// Calls the function `name` on `input`; `focus` is what argument expressions are evaluated
/// against (the focus of the whole invocation).
pub(crate) fn call<'a>(
    name: &str,
    input: Collection<'a>,
    args: &[Expr],
    focus: &[Item<'a>],
    scope: &Scope<'a>,
) -> Result<Collection<'a>> {
    if let Some(result) = collections::call(name, &input, args, focus, scope)? {
        return Ok(result);
    }
    if let Some(result) = strings::call(name, &input, args, focus, scope)? {
        return Ok(result);
    }
    if let Some(result) = math::call(name, &input, args, focus, scope)? {
        return Ok(result);
    }
    if let Some(result) = conversion::call(name, &input, args, focus, scope)? {
        return Ok(result);
    }
    if let Some(result) = fhir::call(name, &input, args, focus, scope)? {
        return Ok(result);
    }
    error(format!("unknown function {name}()"))
}
