//! FHIR additions and type functions: `extension`, `hasValue`, `getValue`, `resolve`,
//! `conformsTo`, `memberOf`, `htmlChecks`, `is`, `as`, `ofType`, `type`, and the clock.

use serde_json::Value;

use super::arg;
use crate::fhirpath::FhirPathError;
use crate::fhirpath::ast::Expr;
use crate::fhirpath::datetime::{PartialTemporal, TemporalKind};
use crate::fhirpath::eval::{Collection, Result, Scope, error, singleton};
use crate::fhirpath::item::{Item, Node};
use crate::fhirpath::navigation::navigate;
use crate::fhirpath::types::{is_subtype, item_is, parse_type_argument};
use crate::model::Model;

fn now() -> PartialTemporal {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let epoch = PartialTemporal::parse_literal("1970-01-01T00:00:00.000Z").expect("valid");
    let mut value = epoch.shift(millis, "millisecond").unwrap_or(epoch);
    value.fraction_digits = 3;
    value
}

pub(crate) fn call<'a>(
    name: &str,
    input: &[Item<'a>],
    args: &[Expr],
    focus: &[Item<'a>],
    scope: &Scope<'a>,
) -> Result<Option<Collection<'a>>> {
    Ok(Some(match name {
        "extension" => {
            let url = arg(args, 0, focus, scope)?;
            let Some(Item::String(url)) = singleton(&url)?.map(Item::primitive) else {
                return Ok(Some(vec![]));
            };
            input
                .iter()
                .flat_map(|item| navigate(item, "extension"))
                .filter(|ext| {
                    ext.as_json()
                        .and_then(|v| v.get("url"))
                        .and_then(Value::as_str)
                        == Some(url.as_str())
                })
                .collect()
        }
        "hasValue" => vec![Item::Boolean(match input {
            [Item::Node(node)] => {
                Model::r4().is_primitive(node.type_name)
                    && node.value.is_some_and(|v| !v.is_object() && !v.is_array())
                    || node.value.is_some_and(|v| v.get("value").is_some())
                        && Model::r4().is_primitive(node.type_name)
            }
            _ => false,
        })],
        "getValue" => match input {
            [item @ Item::Node(node)]
                if Model::r4().is_primitive(node.type_name) && node.value.is_some() =>
            {
                vec![item.primitive()]
            }
            _ => vec![],
        },
        "is" | "as" | "ofType" => {
            let Some(type_arg) = args.first() else {
                return error(format!("{name}() needs a type"));
            };
            let spec = parse_type_argument(type_arg)?;
            // `as()` on several items filters like `ofType()`: the R4 core invariants rely on it
            // (dom-3: `%resource.descendants().as(canonical)`), although the specification and
            // the FHIRPath suite ask for a single item.
            if name == "ofType" || (name == "as" && input.len() > 1) {
                let mut out = Vec::new();
                for item in input {
                    if item_is(item, &spec, true)? {
                        out.push(item.clone());
                    }
                }
                out
            } else {
                let Some(item) = singleton(input)? else {
                    return Ok(Some(vec![]));
                };
                let matches = item_is(item, &spec, name == "as")?;
                if name == "is" {
                    vec![Item::Boolean(matches)]
                } else if matches {
                    vec![item.clone()]
                } else {
                    vec![]
                }
            }
        }
        "type" => {
            let mut out = Vec::new();
            for item in input {
                let (namespace, type_name) = if item.is_system() {
                    ("System", item.type_name())
                } else {
                    ("FHIR", item.type_name())
                };
                // A small object with `namespace` and `name`, as the spec's TypeInfo.
                let value: &'a Value = scope.env.arena.alloc(serde_json::json!({
                    "namespace": namespace,
                    "name": type_name,
                }));
                out.push(Item::Node(Node {
                    value: Some(value),
                    extension: None,
                    type_name: "",
                }));
            }
            out
        }
        "conformsTo" => {
            let url = arg(args, 0, focus, scope)?;
            let Some(Item::String(url)) = singleton(&url)?.map(Item::primitive) else {
                return Ok(Some(vec![]));
            };
            let Some(base) = url.strip_prefix("http://hl7.org/fhir/StructureDefinition/") else {
                return Err(FhirPathError::Unsupported(format!(
                    "conformsTo('{url}'): profiles are not available"
                )));
            };
            let Some(item) = singleton(input)? else {
                return Ok(Some(vec![]));
            };
            vec![Item::Boolean(
                matches!(item, Item::Node(n) if is_subtype(n.type_name, base)),
            )]
        }
        "memberOf" | "subsumes" | "subsumedBy" => {
            return Err(FhirPathError::Unsupported(format!(
                "{name}() needs a terminology service"
            )));
        }
        "htmlChecks" | "htmlchecks" => vec![Item::Boolean(true)],
        "resolve" => {
            let mut out = Vec::new();
            for item in input {
                let reference = match item {
                    Item::Node(node) => node
                        .value
                        .and_then(|v| v.get("reference").or(Some(v)))
                        .and_then(Value::as_str),
                    Item::String(s) => Some(s.as_str()),
                    _ => None,
                };
                if let Some(reference) = reference
                    && let Some(found) = resolve(reference, scope)
                {
                    out.push(Item::resource(found));
                }
            }
            out
        }
        "now" => vec![Item::Temporal(now())],
        "today" => {
            let mut today = now();
            today.kind = TemporalKind::Date;
            today.precision = 3;
            today.offset = None;
            vec![Item::Temporal(today)]
        }
        "timeOfDay" => {
            let mut time = now();
            time.kind = TemporalKind::Time;
            time.offset = None;
            vec![Item::Temporal(time)]
        }
        _ => return Ok(None),
    }))
}

/// Finds the target of a reference: `#id` in `contained`, a Bundle entry by `fullUrl` or by
/// `Type/id`, then the caller's resolver.
fn resolve<'a>(reference: &str, scope: &Scope<'a>) -> Option<&'a Value> {
    let env = scope.env;
    let mut candidates: Vec<&'a Value> = scope.resource.into_iter().collect();
    candidates.extend(env.root_resource);
    if let Some(id) = reference.strip_prefix('#') {
        for container in &candidates {
            if let Some(Value::Array(contained)) = container.get("contained") {
                for c in contained {
                    if c.get("id").and_then(Value::as_str) == Some(id) {
                        return Some(c);
                    }
                }
            }
        }
        return None;
    }
    candidates.dedup_by(|a, b| std::ptr::eq(*a, *b));
    for container in candidates {
        if container.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            continue;
        }
        let Some(Value::Array(entries)) = container.get("entry") else {
            continue;
        };
        for entry in entries {
            let Some(found) = entry.get("resource") else {
                continue;
            };
            if entry.get("fullUrl").and_then(Value::as_str) == Some(reference) {
                return Some(found);
            }
            let local = format!(
                "{}/{}",
                found
                    .get("resourceType")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                found.get("id").and_then(Value::as_str).unwrap_or("")
            );
            if reference == local || reference.ends_with(&format!("/{local}")) {
                return Some(found);
            }
        }
    }
    let resolver = env.resolver?;
    let value = resolver.resolve(reference)?;
    Some(env.arena.alloc(value))
}
