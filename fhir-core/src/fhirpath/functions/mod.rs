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
