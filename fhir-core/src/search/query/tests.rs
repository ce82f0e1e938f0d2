use super::*;
use crate::search::params::{Component, SearchParam};

fn param(code: &str, base: &str, param_type: ParamType, targets: &[&str]) -> SearchParam {
    SearchParam {
        code: code.to_owned(),
        url: format!("http://hl7.org/fhir/SearchParameter/{base}-{code}"),
        param_type,
        base: vec![base.to_owned()],
        expression: Some(format!("{base}.{code}")),
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        components: Vec::new(),
    }
}

fn composite(code: &str, base: &str, components: &[&str]) -> SearchParam {
    SearchParam {
        components: components
            .iter()
            .map(|c| Component {
                definition: format!("http://hl7.org/fhir/SearchParameter/{base}-{c}"),
                expression: (*c).to_owned(),
            })
            .collect(),
        ..param(code, base, ParamType::Composite, &[])
    }
}

fn registry() -> Registry {
    use ParamType::*;
    Registry::from_params(vec![
        param("_id", "Resource", Token, &[]),
        param("_lastUpdated", "Resource", Date, &[]),
        param("_tag", "Resource", Token, &[]),
        param("_profile", "Resource", Uri, &[]),
        param("_text", "DomainResource", String, &[]),
        param("name", "Patient", String, &[]),
        param("family", "Patient", String, &[]),
        param("birthdate", "Patient", Date, &[]),
        param("gender", "Patient", Token, &[]),
        param("identifier", "Patient", Token, &[]),
        param(
            "general-practitioner",
            "Patient",
            Reference,
            &["Practitioner", "Organization", "PractitionerRole"],
        ),
        param("organization", "Patient", Reference, &["Organization"]),
        param("name", "Practitioner", String, &[]),
        param("name", "Organization", String, &[]),
        param("partof", "Organization", Reference, &["Organization"]),
        param("name", "Location", String, &[]),
        param("near", "Location", Special, &[]),
        param("code", "Observation", Token, &[]),
        param(
            "subject",
            "Observation",
            Reference,
            &["Patient", "Group", "Device", "Location"],
        ),
        param("patient", "Observation", Reference, &["Patient"]),
        param("encounter", "Observation", Reference, &["Encounter"]),
        param("date", "Observation", Date, &[]),
        param("value-quantity", "Observation", Quantity, &[]),
        composite(
            "code-value-quantity",
            "Observation",
            &["code", "value-quantity"],
        ),
        composite("broken", "Observation", &["code", "nowhere"]),
        param(
            "entity",
            "AuditEvent",
            Reference,
            &["Patient", "Observation"],
        ),
        param(
            "agent",
            "AuditEvent",
            Reference,
            &["Practitioner", "Patient"],
        ),
        param("probability", "RiskAssessment", Number, &[]),
        param("url", "ValueSet", Uri, &[]),
    ])
}

fn run(types: &[&str], query: &[(&str, &str)]) -> Parsed {
    let types: Vec<String> = types.iter().map(|t| (*t).to_owned()).collect();
    let params: Vec<(String, String)> = query
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    parse(&types, &params, &registry())
}

/// The values of the only condition of a request that must have no problem.
fn values(resource_type: &str, name: &str, value: &str) -> Vec<SearchValue> {
    let parsed = run(&[resource_type], &[(name, value)]);
    assert_eq!(parsed.problems, vec![], "{name}={value}");
    assert_eq!(parsed.request.conditions.len(), 1, "{name}={value}");
    parsed.request.conditions[0].values.clone()
}

fn one(resource_type: &str, name: &str, value: &str) -> SearchValue {
    let values = values(resource_type, name, value);
    assert_eq!(values.len(), 1, "{name}={value}");
    values.into_iter().next().unwrap()
}

/// The only problem of a request: (unknown, message).
fn problem(resource_type: &str, name: &str, value: &str) -> (bool, String) {
    let types: &[&str] = if resource_type.is_empty() {
        &[]
    } else {
        &[resource_type]
    };
    let parsed = run(types, &[(name, value)]);
    assert_eq!(parsed.problems.len(), 1, "{name}={value}: {parsed:?}");
    assert!(parsed.request.conditions.is_empty(), "{name}={value}");
    let problem = &parsed.problems[0];
    assert_eq!(problem.param, name);
    (problem.unknown, problem.message.clone())
}

fn token(system: Option<Option<&str>>, code: Option<&str>) -> SearchValue {
    SearchValue::Token {
        system: system.map(|s| s.map(str::to_owned)),
        code: code.map(str::to_owned),
        value: None,
    }
}

fn direct(code: &str, param_type: ParamType, modifier: Option<Modifier>) -> ParamPath {
    ParamPath::Direct {
        code: code.to_owned(),
        param_type,
        modifier,
    }
}

fn range(text: &str) -> (i64, i64) {
    crate::time::parse_range(text).unwrap()
}

#[test]
fn commas_are_or_and_repeats_are_and() {
    let parsed = run(&["Patient"], &[("name", "a,b"), ("name", "c")]);
    assert!(parsed.problems.is_empty());
    let conditions = &parsed.request.conditions;
    assert_eq!(conditions.len(), 2);
    assert_eq!(
        conditions[0].values,
        vec![
            SearchValue::String("a".into()),
            SearchValue::String("b".into())
        ]
    );
    assert_eq!(conditions[1].values, vec![SearchValue::String("c".into())]);
    assert_eq!(conditions[0].path, direct("name", ParamType::String, None));
    assert_eq!(parsed.request.types, vec!["Patient".to_owned()]);
}

#[test]
fn escapes_split_on_unescaped_separators_only() {
    let cases: &[(&str, &str, Vec<SearchValue>)] = &[
        (
            "name",
            r"a\,b,c",
            vec![
                SearchValue::String("a,b".into()),
                SearchValue::String("c".into()),
            ],
        ),
        (
            "name",
            r"a\\,b",
            vec![
                SearchValue::String(r"a\".into()),
                SearchValue::String("b".into()),
            ],
        ),
        (
            "name",
            r"x\|y\$z",
            vec![SearchValue::String("x|y$z".into())],
        ),
        (
            "name",
            r"keep\n",
            vec![SearchValue::String(r"keep\n".into())],
        ),
        (
            "identifier",
            r"http://x\|y|1\,2",
            vec![token(Some(Some("http://x|y")), Some("1,2"))],
        ),
        (
            "name",
            "a,,b,",
            vec![
                SearchValue::String("a".into()),
                SearchValue::String("b".into()),
            ],
        ),
    ];
    for (name, value, expected) in cases {
        assert_eq!(&values("Patient", name, value), expected, "{name}={value}");
    }
    assert_eq!(split_unescaped(r"a\$b$c", '$'), vec![r"a\$b", "c"]);
    assert_eq!(unescape(r"trailing\"), r"trailing\");
}

#[test]
fn empty_values_are_ignored() {
    let parsed = run(
        &["Patient"],
        &[("name", ""), ("gender", ","), ("_count", "")],
    );
    assert_eq!(
        parsed,
        Parsed {
            request: SearchRequest {
                types: vec!["Patient".into()],
                ..SearchRequest::default()
            },
            problems: vec![],
        }
    );
}

#[test]
fn token_forms() {
    let cases: &[(&str, &str, SearchValue)] = &[
        ("gender", "male", token(None, Some("male"))),
        (
            "identifier",
            "http://acme.org|123",
            token(Some(Some("http://acme.org")), Some("123")),
        ),
        ("identifier", "|123", token(Some(None), Some("123"))),
        (
            "identifier",
            "http://acme.org|",
            token(Some(Some("http://acme.org")), None),
        ),
        ("_id", "abc", token(None, Some("abc"))),
        (
            "identifier:of-type",
            "http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053",
            SearchValue::Token {
                system: Some(Some("http://terminology.hl7.org/CodeSystem/v2-0203".into())),
                code: Some("MR".into()),
                value: Some("446053".into()),
            },
        ),
        (
            "identifier:of-type",
            "|MR|446053",
            SearchValue::Token {
                system: None,
                code: Some("MR".into()),
                value: Some("446053".into()),
            },
        ),
        ("gender:text", "a|b", token(None, Some("a|b"))),
        ("gender:not", "male", token(None, Some("male"))),
    ];
    for (name, value, expected) in cases {
        assert_eq!(&one("Patient", name, value), expected, "{name}={value}");
    }
    let parsed = run(&["Patient"], &[("gender:not", "male")]);
    assert_eq!(
        parsed.request.conditions[0].path,
        direct("gender", ParamType::Token, Some(Modifier::Not))
    );
    for (name, value) in [
        ("gender", "|"),
        ("gender", "a|b|c"),
        ("identifier:of-type", "sys|MR"),
        ("identifier:of-type", "sys||123"),
        ("identifier:of-type", "sys|MR|"),
    ] {
        assert!(!problem("Patient", name, value).0, "{name}={value}");
    }
}

#[test]
fn modifiers_are_checked_against_the_parameter_type() {
    for modifier in ["in", "not-in", "above", "below"] {
        let name = format!("gender:{modifier}");
        let (unknown, message) = problem("Patient", &name, "http://vs");
        assert!(!unknown);
        assert!(message.contains("terminology"), "{message}");
    }
    for (name, value) in [
        ("name:text", "x"),
        ("general-practitioner:text", "x"),
        ("name:not", "x"),
        ("birthdate:exact", "2020"),
        ("gender:exact", "x"),
        ("name:foo", "x"),
        ("name:Patient", "x"),
        ("organization:Patient", "1"),
        ("organization:Nonsense", "1"),
        ("url:contains", "x"),
        ("probability:missing", "maybe"),
    ] {
        let resource_type = match name {
            "url:contains" => "ValueSet",
            "probability:missing" => "RiskAssessment",
            _ => "Patient",
        };
        assert!(!problem(resource_type, name, value).0, "{name}");
    }
    assert_eq!(
        problem("Patient", "foo", "1"),
        (
            true,
            "unknown search parameter `foo` for Patient".to_owned()
        )
    );
    assert!(problem("Patient", "foo:exact", "1").0);
    assert!(problem("Patient", "_contained", "true").0);
    assert!(problem("Patient", "_containedType", "contained").0);
    assert!(run(&["Patient"], &[("_text", "x")]).problems.is_empty());
    assert!(!problem("Patient", "_filter", "name eq x").0);
    assert!(!problem("Patient", "_query", "x").0);
    let path = |name: &str, value: &str, resource_type: &str| {
        let parsed = run(&[resource_type], &[(name, value)]);
        assert!(parsed.problems.is_empty(), "{name}: {:?}", parsed.problems);
        parsed.request.conditions[0].path.clone()
    };
    assert_eq!(
        path("name:exact", "x", "Patient"),
        direct("name", ParamType::String, Some(Modifier::Exact))
    );
    assert_eq!(
        path("name:contains", "x", "Patient"),
        direct("name", ParamType::String, Some(Modifier::Contains))
    );
    assert_eq!(
        path("url:below", "http://x", "ValueSet"),
        direct("url", ParamType::Uri, Some(Modifier::Below))
    );
    assert_eq!(
        path("url:above", "http://x", "ValueSet"),
        direct("url", ParamType::Uri, Some(Modifier::Above))
    );
    assert_eq!(
        path("organization:identifier", "x", "Patient"),
        direct(
            "organization",
            ParamType::Reference,
            Some(Modifier::Identifier)
        )
    );
    assert_eq!(
        path("general-practitioner:Practitioner", "1", "Patient"),
        direct(
            "general-practitioner",
            ParamType::Reference,
            Some(Modifier::Type("Practitioner".into()))
        )
    );
}

#[test]
fn missing_applies_to_every_type() {
    for (resource_type, name) in [
        ("Patient", "name:missing"),
        ("Patient", "birthdate:missing"),
        ("Patient", "gender:missing"),
        ("Patient", "organization:missing"),
        ("RiskAssessment", "probability:missing"),
        ("Observation", "value-quantity:missing"),
        ("Observation", "code-value-quantity:missing"),
        ("ValueSet", "url:missing"),
        ("Location", "near:missing"),
    ] {
        assert_eq!(
            values(resource_type, name, "true,false"),
            vec![SearchValue::Missing(true), SearchValue::Missing(false)],
            "{name}"
        );
    }
    assert!(!problem("Patient", "name:missing", "yes").0);
    assert!(!problem("Patient", "name:missing", "TRUE").0);
}

#[test]
fn numbers_take_prefixes_and_decimals() {
    let cases = [
        ("100", Prefix::Eq, "100"),
        ("eq100", Prefix::Eq, "100"),
        ("ne1.5", Prefix::Ne, "1.5"),
        ("gt0.8", Prefix::Gt, "0.8"),
        ("lt-3", Prefix::Lt, "-3"),
        ("ge1e2", Prefix::Ge, "1e2"),
        ("le1.50E-3", Prefix::Le, "1.50E-3"),
        ("sa0", Prefix::Sa, "0"),
        ("eb2", Prefix::Eb, "2"),
        ("ap100", Prefix::Ap, "100"),
    ];
    for (text, prefix, value) in cases {
        assert_eq!(
            one("RiskAssessment", "probability", text),
            SearchValue::Number {
                prefix,
                value: value.into()
            },
            "{text}"
        );
    }
    for text in [
        "xx1",
        "Gt1",
        "g",
        "1.",
        ".5",
        "01",
        "1e",
        "1,5x",
        "abc",
        "--1",
        "1 ",
        "0x10",
        "NaN",
        "inf",
        "gé1",
        "é1",
        "1e1234567",
        "gt",
    ] {
        assert!(!problem("RiskAssessment", "probability", text).0, "{text}");
    }
    let (_, message) = problem("RiskAssessment", "probability", "xx1");
    assert!(message.contains("prefix"), "{message}");
}

#[test]
fn dates_take_prefixes_and_any_precision() {
    let cases = [
        ("2013", Prefix::Eq, "2013"),
        ("eq2013-01", Prefix::Eq, "2013-01"),
        ("ne2013-01-14", Prefix::Ne, "2013-01-14"),
        ("gt2013-01-14T10:00", Prefix::Gt, "2013-01-14T10:00Z"),
        ("lt2013-01-14T10:00:00", Prefix::Lt, "2013-01-14T10:00:00Z"),
        (
            "ge2013-01-14T10:00:00.5+01:00",
            Prefix::Ge,
            "2013-01-14T09:00:00.5Z",
        ),
        ("le2013-01-14T10:00:00Z", Prefix::Le, "2013-01-14T10:00:00Z"),
        ("sa2013", Prefix::Sa, "2013"),
        ("eb2013", Prefix::Eb, "2013"),
        ("ap2013", Prefix::Ap, "2013"),
    ];
    for (text, prefix, expected) in cases {
        let (start, end) = range(expected);
        assert_eq!(
            one("Patient", "birthdate", text),
            SearchValue::Date { prefix, start, end },
            "{text}"
        );
    }
    // A dateTime without a zone is UTC: 10:00 is the minute [10:00, 10:01).
    let SearchValue::Date { start, end, .. } = one("Patient", "birthdate", "2013-01-14T10:00")
    else {
        panic!()
    };
    assert_eq!(end - start, 60_000);
    assert_eq!(
        crate::time::format_instant(start),
        "2013-01-14T10:00:00.000Z"
    );
    for text in [
        "2020-13-45",
        "2020-02-30",
        "xx2020",
        "20200101",
        "2020-1-1",
        "2020-01-01T25:00",
        "2020-01-01T10",
        "today",
        "gt",
        "2020-01-01T10:00:00+1",
        "२०२०",
    ] {
        assert!(!problem("Patient", "birthdate", text).0, "{text}");
    }
    assert_eq!(
        values("Patient", "_lastUpdated", "gt2020-01-01T00:00:00Z").len(),
        1
    );
}

#[test]
fn references_in_every_form() {
    let reference =
        |t: Option<&str>, id: Option<&str>, url: Option<&str>, version: Option<&str>| {
            SearchValue::Reference {
                resource_type: t.map(str::to_owned),
                id: id.map(str::to_owned),
                url: url.map(str::to_owned),
                version: version.map(str::to_owned),
                identifier: None,
            }
        };
    let cases = [
        ("subject", "123", reference(None, Some("123"), None, None)),
        (
            "subject",
            "Patient/123",
            reference(Some("Patient"), Some("123"), None, None),
        ),
        (
            "subject",
            "Patient/123/_history/2",
            reference(Some("Patient"), Some("123"), None, None),
        ),
        (
            "subject",
            "http://example.org/fhir/Patient/123",
            reference(
                Some("Patient"),
                Some("123"),
                Some("http://example.org/fhir/Patient/123"),
                None,
            ),
        ),
        (
            "subject",
            "http://example.org/fhir/Patient/123/_history/4",
            reference(
                Some("Patient"),
                Some("123"),
                Some("http://example.org/fhir/Patient/123/_history/4"),
                None,
            ),
        ),
        (
            "subject",
            "http://example.org/fhir/StructureDefinition/x|1.0",
            reference(
                Some("StructureDefinition"),
                Some("x"),
                Some("http://example.org/fhir/StructureDefinition/x"),
                Some("1.0"),
            ),
        ),
        (
            "subject",
            "urn:uuid:0b2c2c9e-2b6b-4b39-9ba4-1f1b5e7d2f71",
            reference(
                None,
                None,
                Some("urn:uuid:0b2c2c9e-2b6b-4b39-9ba4-1f1b5e7d2f71"),
                None,
            ),
        ),
        (
            "subject:Patient",
            "123",
            reference(Some("Patient"), Some("123"), None, None),
        ),
        (
            "subject:Patient",
            "Patient/123",
            reference(Some("Patient"), Some("123"), None, None),
        ),
    ];
    for (name, value, expected) in cases {
        assert_eq!(one("Observation", name, value), expected, "{name}={value}");
    }
    let identifier = |system: Option<Option<&str>>, value: Option<&str>| SearchValue::Reference {
        resource_type: None,
        id: None,
        url: None,
        version: None,
        identifier: Some((
            system.map(|s| s.map(str::to_owned)),
            value.map(str::to_owned),
        )),
    };
    for (value, expected) in [
        (
            "http://sys|abc",
            identifier(Some(Some("http://sys")), Some("abc")),
        ),
        ("|abc", identifier(Some(None), Some("abc"))),
        ("abc", identifier(None, Some("abc"))),
        ("http://sys|", identifier(Some(Some("http://sys")), None)),
    ] {
        assert_eq!(one("Observation", "subject:identifier", value), expected);
    }
    for (name, value) in [
        ("subject:Patient", "Group/1"),
        ("subject", "Nonsense/1"),
        ("subject", "Patient/"),
        ("subject", "' OR 1=1 --"),
        ("subject", "Patient/1|2"),
        ("subject", "PatientX/Patient/1"),
        ("subject", "Patient/1/_history"),
        ("subject", "a|b|c"),
        ("subject:identifier", "|"),
        ("subject:identifier", "a|b|c"),
    ] {
        assert!(!problem("Observation", name, value).0, "{name}={value}");
    }
}

#[test]
fn quantities_strings_and_uris() {
    let quantity =
        |prefix, value: &str, system: Option<&str>, code: Option<&str>| SearchValue::Quantity {
            prefix,
            value: value.into(),
            system: system.map(str::to_owned),
            code: code.map(str::to_owned),
        };
    for (text, expected) in [
        (
            "5.4|http://unitsofmeasure.org|mg",
            quantity(
                Prefix::Eq,
                "5.4",
                Some("http://unitsofmeasure.org"),
                Some("mg"),
            ),
        ),
        ("lt5.4||mg", quantity(Prefix::Lt, "5.4", None, Some("mg"))),
        ("ap5.4", quantity(Prefix::Ap, "5.4", None, None)),
        (
            "5.4|http://unitsofmeasure.org|",
            quantity(Prefix::Eq, "5.4", Some("http://unitsofmeasure.org"), None),
        ),
    ] {
        assert_eq!(
            one("Observation", "value-quantity", text),
            expected,
            "{text}"
        );
    }
    for text in ["5.4|mg", "xx5.4||mg", "five||mg", "1|2|3|4"] {
        assert!(!problem("Observation", "value-quantity", text).0, "{text}");
    }
    assert_eq!(
        one("ValueSet", "url", r"http://x.org/a\,b"),
        SearchValue::Uri("http://x.org/a,b".into())
    );
    assert_eq!(
        one("Patient", "name", "' OR 1=1 --"),
        SearchValue::String("' OR 1=1 --".into())
    );
}

#[test]
fn composites_split_on_dollar_and_type_each_part() {
    assert_eq!(
        one(
            "Observation",
            "code-value-quantity",
            "http://loinc.org|8480-6$lt60||mm[Hg]"
        ),
        SearchValue::Composite(vec![
            token(Some(Some("http://loinc.org")), Some("8480-6")),
            SearchValue::Quantity {
                prefix: Prefix::Lt,
                value: "60".into(),
                system: None,
                code: Some("mm[Hg]".into()),
            },
        ])
    );
    // An escaped `$` stays in the part.
    assert_eq!(
        one("Observation", "code-value-quantity", r"a\$b$60"),
        SearchValue::Composite(vec![
            token(None, Some("a$b")),
            SearchValue::Quantity {
                prefix: Prefix::Eq,
                value: "60".into(),
                system: None,
                code: None,
            },
        ])
    );
    for text in ["8480-6", "8480-6$60$1", "8480-6$", "$60", "8480-6$xx60"] {
        assert!(
            !problem("Observation", "code-value-quantity", text).0,
            "{text}"
        );
    }
    let (_, message) = problem("Observation", "broken", "a$b");
    assert!(message.contains("not defined"), "{message}");
    assert!(!problem("Observation", "code-value-quantity:exact", "a$1").0);
}

#[test]
fn near_takes_a_position_distance_and_units() {
    let near = |text: &str| match one("Location", "near", text) {
        SearchValue::Near {
            latitude,
            longitude,
            distance_km,
        } => (latitude, longitude, distance_km),
        other => panic!("{other:?}"),
    };
    assert_eq!(near("42.25|-71.5|10|km"), (42.25, -71.5, 10.0));
    assert_eq!(near("42.25|-71.5|10"), (42.25, -71.5, 10.0));
    let (_, _, miles) = near("42.25|-71.5|10|mi");
    assert!((miles - 16.093_44).abs() < 1e-9);
    assert_eq!(near("42.25|-71.5|500|m").2, 0.5);
    assert_eq!(near("-42|71").2, DEFAULT_NEAR_KM);
    for text in [
        "42",
        "91|0",
        "0|181",
        "a|b",
        "1|2|-3",
        "1|2|3|furlong",
        "1|2|3|km|x",
        "1|2|NaN",
    ] {
        assert!(!problem("Location", "near", text).0, "{text}");
    }
}

#[test]
fn chains_go_through_reference_parameters() {
    let parsed = run(&["Observation"], &[("subject:Patient.name", "peter")]);
    assert!(parsed.problems.is_empty());
    assert_eq!(
        parsed.request.conditions,
        vec![Condition {
            path: ParamPath::Chain {
                reference: "subject".into(),
                target_types: vec!["Patient".into()],
                next: Box::new(direct("name", ParamType::String, None)),
            },
            values: vec![SearchValue::String("peter".into())],
        }]
    );
    // Without a type: the targets that have the next parameter.
    let parsed = run(&["Observation"], &[("subject.name:exact", "Peter")]);
    assert!(parsed.problems.is_empty());
    assert_eq!(
        parsed.request.conditions[0].path,
        ParamPath::Chain {
            reference: "subject".into(),
            target_types: vec!["Patient".into(), "Location".into()],
            next: Box::new(direct("name", ParamType::String, Some(Modifier::Exact))),
        }
    );
    assert_eq!(
        parsed.request.conditions[0].path.leaf(),
        ("name", ParamType::String, Some(&Modifier::Exact))
    );
    // Deeper: Patient → Organization → Organization → name.
    let parsed = run(
        &["Patient"],
        &[("general-practitioner:Organization.partof.name", "acme")],
    );
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(
        parsed.request.conditions[0].path,
        ParamPath::Chain {
            reference: "general-practitioner".into(),
            target_types: vec!["Organization".into()],
            next: Box::new(ParamPath::Chain {
                reference: "partof".into(),
                target_types: vec!["Organization".into()],
                next: Box::new(direct("name", ParamType::String, None)),
            }),
        }
    );
    // Four links are allowed, five are too deep (a problem, not an unknown parameter).
    let four = "organization.partof.partof.partof.name";
    assert!(run(&["Patient"], &[(four, "x")]).problems.is_empty());
    let five = "organization.partof.partof.partof.partof.name";
    let (unknown, message) = problem("Patient", five, "x");
    assert!(!unknown);
    assert!(message.contains("too deep"), "{message}");
    let deep = "a.".repeat(500) + "b";
    assert!(!problem("Patient", &deep, "x").0);
    // Values are typed by the leaf.
    assert_eq!(
        values("Observation", "subject:Patient.birthdate", "ge2000"),
        vec![SearchValue::Date {
            prefix: Prefix::Ge,
            start: range("2000").0,
            end: range("2000").1,
        }]
    );
    for (name, unknown) in [
        ("name.family", false),
        ("subject:Nonsense.name", false),
        ("subject:Encounter.name", false),
        ("subject:missing.name", false),
        // An unknown link is not ignorable: dropping a chain would widen the result.
        ("subject.nonexistent", false),
        ("subject:Patient.nonexistent", false),
        ("nonexistent.name", false),
        ("subject:Patient.name:foo", false),
    ] {
        let resource_type = if name.starts_with("name") {
            "Patient"
        } else {
            "Observation"
        };
        assert_eq!(problem(resource_type, name, "x").0, unknown, "{name}");
    }
}

#[test]
fn reverse_chains_with_has() {
    let parsed = run(&["Patient"], &[("_has:Observation:patient:code", "1234-5")]);
    assert!(parsed.problems.is_empty());
    assert_eq!(
        parsed.request.conditions,
        vec![Condition {
            path: ParamPath::Has {
                resource_type: "Observation".into(),
                reference: "patient".into(),
                next: Box::new(direct("code", ParamType::Token, None)),
            },
            values: vec![token(None, Some("1234-5"))],
        }]
    );
    let parsed = run(
        &["Patient"],
        &[(
            "_has:Observation:patient:_has:AuditEvent:entity:agent",
            "Practitioner/1",
        )],
    );
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(
        parsed.request.conditions[0].path,
        ParamPath::Has {
            resource_type: "Observation".into(),
            reference: "patient".into(),
            next: Box::new(ParamPath::Has {
                resource_type: "AuditEvent".into(),
                reference: "entity".into(),
                next: Box::new(direct("agent", ParamType::Reference, None)),
            }),
        }
    );
    // With a modifier and a chain at the end.
    let parsed = run(
        &["Patient"],
        &[("_has:Observation:subject:subject:Patient.name:exact", "x")],
    );
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    for (name, unknown) in [
        ("_has:Observation:encounter:code", false),
        ("_has:Nonsense:patient:code", false),
        ("_has:Observation:code:code", false),
        ("_has:Observation", false),
        ("_has:Observation:patient", false),
        ("_has:Observation:patient:", false),
        // Unknown parts of `_has` are not ignorable: dropping it would widen the result.
        ("_has:Observation:nonexistent:code", false),
        ("_has:Observation:patient:nonexistent", false),
        ("_has:Observation:patient:code:in", false),
    ] {
        assert_eq!(problem("Patient", name, "x").0, unknown, "{name}");
    }
    let deep = "_has:Observation:patient:".repeat(5) + "code";
    let (unknown, message) = problem("Patient", &deep, "x");
    assert!(!unknown && message.contains("too deep"), "{message}");
}

#[test]
fn result_parameters() {
    let parsed = run(
        &["Patient"],
        &[
            ("_sort", "-birthdate,name,_id"),
            ("_sort", "-_lastUpdated"),
            ("_count", "10"),
            ("_total", "accurate"),
            ("_summary", "count"),
            ("_elements", "name, birthDate"),
            ("_include", "Patient:general-practitioner:Practitioner"),
            ("_include:iterate", "Organization:partof"),
            ("_include", "*"),
            ("_revinclude:recurse", "Observation:patient"),
            ("_revinclude", "Observation:*"),
            ("_cursor", "opaque=="),
            ("_format", "json"),
            ("_pretty", "true"),
        ],
    );
    assert_eq!(parsed.problems, vec![]);
    let request = parsed.request;
    let key = |code: &str, param_type, descending| SortKey {
        code: code.into(),
        param_type,
        descending,
    };
    assert_eq!(
        request.sort,
        vec![
            key("birthdate", ParamType::Date, true),
            key("name", ParamType::String, false),
            key("_id", ParamType::Token, false),
            key("_lastUpdated", ParamType::Date, true),
        ]
    );
    assert_eq!(request.count, Some(10));
    assert_eq!(request.total, TotalMode::Accurate);
    assert_eq!(request.summary, Some(Summary::Count));
    assert_eq!(
        request.elements,
        vec!["name".to_owned(), "birthDate".to_owned()]
    );
    let include =
        |source: Option<&str>, param: Option<&str>, target: Option<&str>, iterate| Include {
            source_type: source.map(str::to_owned),
            param: param.map(str::to_owned),
            target_type: target.map(str::to_owned),
            iterate,
        };
    assert_eq!(
        request.includes,
        vec![
            include(
                Some("Patient"),
                Some("general-practitioner"),
                Some("Practitioner"),
                false
            ),
            include(Some("Organization"), Some("partof"), None, true),
            include(None, None, None, false),
        ]
    );
    assert_eq!(
        request.revincludes,
        vec![
            include(Some("Observation"), Some("patient"), None, true),
            include(Some("Observation"), None, None, false),
        ]
    );
    assert_eq!(request.cursor.as_deref(), Some("opaque=="));
    assert_eq!(
        request.passthrough,
        vec![
            ("_format".to_owned(), "json".to_owned()),
            ("_pretty".to_owned(), "true".to_owned())
        ]
    );
    assert_eq!(run(&["Patient"], &[("_count", "0")]).request.count, Some(0));
    assert_eq!(
        run(&["Patient"], &[("_count", "100000")]).request.count,
        Some(100_000)
    );
    for (name, value) in [
        ("_sort", "nonexistent"),
        ("_sort:desc", "name"),
        ("_count", "-1"),
        ("_count", "ten"),
        ("_count", "1.5"),
        ("_total", "exact"),
        ("_summary", "yes"),
        ("_elements", "name;drop"),
        ("_include", "Observation:code"),
        ("_include", "Nonsense:subject"),
        ("_include", "Observation"),
        ("_include", "Observation:subject:Nonsense"),
        ("_include", "Observation:patient:Group"),
        ("_include:nonsense", "Observation:subject"),
        ("_type", "Patient"),
    ] {
        let (unknown, _) = problem("Patient", name, value);
        assert!(!unknown, "{name}={value}");
    }
    // An unknown include parameter is not ignorable either: it would change what comes back.
    assert!(!problem("Patient", "_include", "Observation:nonexistent").0);
    // A bad sort key does not lose the good ones.
    let parsed = run(&["Patient"], &[("_sort", "name,nonexistent")]);
    assert_eq!(parsed.problems.len(), 1);
    assert_eq!(parsed.request.sort.len(), 1);
}

#[test]
fn list_is_a_condition() {
    let parsed = run(&["Patient"], &[("_list", "42,$current-problems")]);
    assert!(parsed.problems.is_empty());
    assert_eq!(
        parsed.request.conditions,
        vec![Condition {
            path: direct("_list", ParamType::Token, None),
            values: vec![
                token(None, Some("42")),
                token(None, Some("$current-problems"))
            ],
        }]
    );
    assert!(!problem("Patient", "_list:not", "42").0);
}

#[test]
fn system_search_allows_common_parameters_and_type() {
    let parsed = run(&[], &[("_id", "1"), ("_lastUpdated", "gt2020")]);
    assert!(parsed.problems.is_empty());
    assert!(parsed.request.types.is_empty());
    assert_eq!(parsed.request.conditions.len(), 2);
    let (unknown, message) = problem("", "name", "x");
    assert!(unknown && message.contains("system search"), "{message}");
    assert!(problem("", "_sort", "name").1.contains("name"));
    // One type: its parameters.
    let parsed = run(&[], &[("_type", "Patient"), ("name", "x")]);
    assert!(parsed.problems.is_empty());
    assert_eq!(parsed.request.types, vec!["Patient".to_owned()]);
    assert_eq!(parsed.request.conditions.len(), 1);
    // Several types: a parameter must exist on each.
    let parsed = run(&[], &[("name", "x"), ("_type", "Patient,Organization")]);
    assert!(parsed.problems.is_empty());
    assert_eq!(
        parsed.request.types,
        vec!["Patient".to_owned(), "Organization".to_owned()]
    );
    let parsed = run(&[], &[("_type", "Patient,Observation"), ("name", "x")]);
    assert_eq!(parsed.problems.len(), 1);
    assert!(parsed.problems[0].unknown);
    let parsed = run(&[], &[("_type", "Patient,Nonsense")]);
    assert_eq!(parsed.request.types, vec!["Patient".to_owned()]);
    assert_eq!(parsed.problems.len(), 1);
    assert!(!parsed.problems[0].unknown);
    assert!(!problem("", "_type:exact", "Patient").0);
}

#[test]
fn limits_and_hostile_input_give_problems() {
    let long = "x".repeat(MAX_VALUE_BYTES + 1);
    let (unknown, message) = problem("Patient", "name", &long);
    assert!(!unknown && message.contains("too long"), "{message}");
    assert!(!problem("Patient", "name", "a\0b").0);
    assert!(problem("Patient", "na\0me", "x").0);
    // 1,001 values in all.
    let many = vec!["a"; 501].join(",");
    let parsed = run(&["Patient"], &[("name", &many), ("family", &many)]);
    assert_eq!(parsed.request.conditions.len(), 1);
    assert_eq!(parsed.problems.len(), 1);
    assert!(parsed.problems[0].message.contains("too many values"));
    // 1,001 parameters.
    let params: Vec<(String, String)> = (0..=MAX_PARAMS)
        .map(|_| ("_count".to_owned(), "1".to_owned()))
        .collect();
    let parsed = parse(&["Patient".into()], &params, &registry());
    assert_eq!(parsed.problems.len(), 1);
    assert!(parsed.problems[0].message.contains("too many parameters"));
}

#[test]
fn odd_input_never_panics() {
    let names = [
        "name",
        "birthdate",
        "gender",
        "identifier",
        "identifier:of-type",
        "gender:text",
        "subject",
        "subject:identifier",
        "subject:Patient",
        "value-quantity",
        "code-value-quantity",
        "near",
        "probability",
        "url:below",
        "_has:",
        "_has:::",
        ".",
        "..",
        ":",
        "subject.",
        ".name",
        "subject:.name",
        "_sort",
        "_include",
        "_include:",
        "_count",
        "_type",
        "_elements",
        "é:é",
        "名前",
        "_has:Observation:patient:.",
    ];
    let values = [
        "",
        ",",
        "|",
        "||",
        "|||",
        "$",
        "$$",
        "\\",
        "\\\\",
        "\\,",
        "é",
        "名前",
        "gt",
        "ge-",
        "eq-1e-",
        "' OR 1=1 --",
        "1|2|3|4|5",
        "Patient/",
        "/1",
        "http://",
        "urn:",
        "2020-01-01T10:00:00.Z",
        "2020-01-01T10:00:00.123456789Z",
        "9999-12-31T23:59:59Z",
        "0000",
        "-1",
        "1e999999",
        "-0",
        "a$b$c|d\\$e",
        "*",
        ":",
        "Patient:",
        "::",
        "\u{0301}",
        "\u{FEFF}",
        "gé2020",
        "eé",
        "aé|b",
        "é|é|é",
        "🙂|🙂$🙂",
    ];
    for resource_type in [&["Observation"][..], &["Patient"][..], &[][..]] {
        for name in names {
            for value in values {
                let types: Vec<String> = resource_type.iter().map(|t| (*t).to_owned()).collect();
                let _ = parse(&types, &[(name.to_owned(), value.to_owned())], &registry());
            }
        }
    }
}
