//! The FHIRPath Patch cases of FHIR/fhir-test-cases (`data/patch-r4/fhir-patch-tests.xml`, see
//! `README-fhirpath-patch.md` there) run against `fhir_core::patch::fhirpath_patch::apply`.
//!
//! Each `<case>` has an `<input>` resource, a `<diff>` (the `Parameters` patch) and either an
//! `<output>` resource or an `<error msg="…"/>`. Inputs, patches and outputs are XML, read with
//! the project's XML reader. A result must equal the output once both are written by
//! `fhir_core::json::to_string` (properties in definition order, so the place where an operation
//! appended a property does not matter); nothing is ignored (`meta`, `text` are compared too). An
//! error case passes when the patch is refused.
//!
//! The test fails when a case fails that is not in [`KNOWN_FAILURES`] (with its reason), and when
//! a listed case passes, so that the list stays true.

use conformance_tests::workspace_root;
use fhir_core::patch::fhirpath_patch::apply;
use serde_json::Value;

/// Cases that fail, by name, with the reason.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

/// One case of the file.
struct Case {
    name: String,
    input: String,
    diff: String,
    /// The expected resource, or the expected error message.
    expected: Result<String, String>,
}

/// The text between `<tag>` (or `<tag …>`) and `</tag>` in `text`.
fn inner<'t>(text: &'t str, tag: &str) -> Option<&'t str> {
    let open = format!("<{tag}");
    let mut from = 0;
    let start = loop {
        let at = from + text[from..].find(&open)?;
        let after = at + open.len();
        if text[after..].starts_with(['>', ' ', '\t', '\r', '\n']) {
            break after + text[after..].find('>')? + 1;
        }
        from = after;
    };
    let end = start + text[start..].find(&format!("</{tag}>"))?;
    Some(&text[start..end])
}

/// The value of the attribute `name` in the start tag that begins `tag`.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&apos;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The cases of the file, in order. The format is regular enough for plain text search: cases
/// are not nested, and each holds one `<input>`, one `<diff>` and one `<output>` or `<error>`.
fn cases(xml: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find("<case ") {
        let body_start = at + rest[at..].find('>').expect("end of <case>") + 1;
        let start_tag = &rest[at..body_start];
        let end = body_start + rest[body_start..].find("</case>").expect("</case>");
        let body = &rest[body_start..end];
        let name = attribute(start_tag, "name").expect("case name");
        let part = |tag| {
            inner(body, tag)
                .unwrap_or_else(|| panic!("{name}: no <{tag}>"))
                .trim()
                .to_string()
        };
        let expected = match inner(body, "output") {
            Some(output) => Ok(output.trim().to_string()),
            None => {
                let error_at = body
                    .find("<error")
                    .unwrap_or_else(|| panic!("{name}: neither <output> nor <error>"));
                let tag_end = error_at + body[error_at..].find('>').expect("end of <error>");
                Err(attribute(&body[error_at..tag_end], "msg").unwrap_or_default())
            }
        };
        cases.push(Case {
            input: part("input"),
            diff: part("diff"),
            expected,
            name,
        });
        rest = &rest[end..];
    }
    cases
}

fn read(xml: &str, what: &str) -> Result<Value, String> {
    fhir_core::xml::from_xml(xml.as_bytes()).map_err(|e| format!("cannot read the {what}: {e}"))
}

/// The narrative `div` of an expected output is the exact text of the test file (the XML reader
/// keeps it so), with the file's CRLF line ends and `&quot;` references, while a `div` set by a
/// patch is a `valueString` after XML processing (LF, `"`). Both are made the same XHTML text.
fn normalise_div(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                match child {
                    Value::String(text) if key == "div" => {
                        *text = text.replace("\r\n", "\n").replace("&quot;", "\"");
                    }
                    _ => normalise_div(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise_div),
        _ => {}
    }
}

/// Runs one case: `Ok(())` when it passes, the problem otherwise.
fn run(case: &Case) -> Result<(), String> {
    let input = read(&case.input, "input")?;
    let diff = read(&case.diff, "diff")?;
    let result = apply(&input, &diff);
    match (&case.expected, result) {
        (Ok(output), Ok(result)) => {
            let mut expected = read(output, "output")?;
            let mut result = result;
            normalise_div(&mut expected);
            normalise_div(&mut result);
            let expected = fhir_core::json::to_string(&expected);
            let actual = fhir_core::json::to_string(&result);
            if expected == actual {
                Ok(())
            } else {
                Err(format!("expected {expected}\n      got {actual}"))
            }
        }
        (Ok(_), Err(error)) => Err(format!("refused: {error}")),
        (Err(message), Ok(result)) => Err(format!(
            "expected the error \"{message}\", got {}",
            fhir_core::json::to_string(&result)
        )),
        (Err(message), Err(error)) => {
            println!("      expected \"{message}\", refused with \"{error}\"");
            Ok(())
        }
    }
}

#[test]
fn fhirpath_patch_test_cases() {
    let path = workspace_root().join("conformance-tests/data/patch-r4/fhir-patch-tests.xml");
    let xml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases = cases(&xml);
    assert_eq!(cases.len(), 33, "the file has 33 cases");
    let mut passed = 0;
    let mut unexpected = Vec::new();
    for case in &cases {
        let known = KNOWN_FAILURES.iter().find(|(name, _)| *name == case.name);
        let outcome = run(case);
        let kind = if case.expected.is_ok() {
            "output"
        } else {
            "error"
        };
        match (&outcome, known) {
            (Ok(()), None) => {
                passed += 1;
                println!("pass  {} ({kind})", case.name);
            }
            (Ok(()), Some(_)) => {
                println!("PASS  {} (listed as a known failure)", case.name);
                unexpected.push(format!(
                    "{}: passes but is listed in KNOWN_FAILURES",
                    case.name
                ));
            }
            (Err(problem), Some((_, reason))) => {
                println!("known {}: {reason}\n      {problem}", case.name);
            }
            (Err(problem), None) => {
                println!("FAIL  {}: {problem}", case.name);
                unexpected.push(format!("{}: {problem}", case.name));
            }
        }
    }
    println!(
        "FHIRPath Patch: {passed} of {} cases pass, {} known failures",
        cases.len(),
        KNOWN_FAILURES.len()
    );
    assert!(
        unexpected.is_empty(),
        "{} unexpected results:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}
