use std::io::Read;

use serde_json::json;

use super::*;
use crate::generated::package_file;

fn extractor() -> &'static Extractor {
    Extractor::r4()
}

fn token(system: &str, code: &str, text: &[&str]) -> IndexValue {
    IndexValue::Token {
        system: (!system.is_empty()).then(|| system.to_owned()),
        code: Some(code.to_owned()),
        text: text.iter().map(|t| (*t).to_owned()).collect(),
        of_type: Vec::new(),
    }
}

fn reference(ty: Option<&str>, id: Option<&str>, url: Option<&str>) -> IndexValue {
    IndexValue::Reference {
        resource_type: ty.map(str::to_owned),
        id: id.map(str::to_owned),
        url: url.map(str::to_owned),
        identifier: None,
    }
}

fn quantity(value: &str, system: &str, code: &str, unit: &str) -> IndexValue {
    IndexValue::Quantity {
        value: value.to_owned(),
        system: Some(system.to_owned()),
        code: Some(code.to_owned()),
        unit: Some(unit.to_owned()),
    }
}

fn date(text: &str) -> IndexValue {
    let (start, end) = crate::time::parse_range(text).unwrap();
    IndexValue::Date { start, end }
}

/// Every JSON resource of the package (but the definition bundles), by file name.
fn all_examples() -> Vec<(String, Value)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/definitions/hl7.fhir.r4.examples-4.0.1.tgz"
    );
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut examples = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.ends_with("package.json") || name.contains(".index.") {
            continue;
        }
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if value["resourceType"].is_string() {
            examples.push((name, value));
        }
    }
    examples
}

fn example(name: &str) -> Value {
    package_file(name)
}

#[test]
fn observation_example() {
    let observation = example("Observation-example.json");
    let x = extractor();
    let code = x.extract_param("Observation", "code", &observation);
    assert_eq!(code.len(), 4);
    assert_eq!(
        code[0],
        token("http://loinc.org", "29463-7", &["Body Weight"])
    );
    assert_eq!(
        x.extract_param("Observation", "value-quantity", &observation),
        [quantity(
            "185",
            "http://unitsofmeasure.org",
            "[lb_av]",
            "lbs"
        )]
    );
    assert_eq!(
        x.extract_param("Observation", "subject", &observation),
        [reference(Some("Patient"), Some("example"), None)]
    );
    assert_eq!(
        x.extract_param("Observation", "patient", &observation),
        [reference(Some("Patient"), Some("example"), None)]
    );
    assert_eq!(
        x.extract_param("Observation", "date", &observation),
        [date("2016-03-28")]
    );
    assert_eq!(
        x.extract_param("Observation", "_id", &observation),
        [token("", "example", &[])]
    );
    let composite = x.extract_param("Observation", "code-value-quantity", &observation);
    assert_eq!(composite.len(), 1);
    let IndexValue::Composite(parts) = &composite[0] else {
        panic!("{composite:?}")
    };
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].len(), 4);
    assert_eq!(
        parts[1],
        [quantity(
            "185",
            "http://unitsofmeasure.org",
            "[lb_av]",
            "lbs"
        )]
    );
    let all = x.extract("Observation", &observation);
    let codes: Vec<&str> = all.iter().map(|(p, _)| p.code.as_str()).collect();
    for expected in [
        "_id", "code", "subject", "patient", "status", "_text", "_content",
    ] {
        assert!(codes.contains(&expected), "{expected} in {codes:?}");
    }
    assert!(!codes.contains(&"component-code"));
}

#[test]
fn subject_of_another_type_is_not_patient() {
    let observation = json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "http://example.org/fhir/Group/g1/_history/2"},
        "performer": [{"reference": "#p1"}, {"reference": "urn:uuid:1234"}],
        "contained": [{"resourceType": "Practitioner", "id": "p1"}]
    });
    let x = extractor();
    assert!(
        x.extract_param("Observation", "patient", &observation)
            .is_empty()
    );
    assert_eq!(
        x.extract_param("Observation", "subject", &observation),
        [reference(
            Some("Group"),
            Some("g1"),
            Some("http://example.org/fhir/Group/g1/_history/2")
        )]
    );
    assert_eq!(
        x.extract_param("Observation", "performer", &observation),
        [
            reference(Some("Practitioner"), None, Some("#p1")),
            reference(None, None, Some("urn:uuid:1234"))
        ]
    );
    assert_eq!(
        x.extract_param("Observation", "code", &observation),
        [IndexValue::Token {
            system: None,
            code: None,
            text: vec!["x".to_owned()],
            of_type: Vec::new()
        }]
    );
    let with_contained_patient = json!({
        "resourceType": "Observation",
        "subject": {"reference": "#p"},
        "contained": [{"resourceType": "Patient", "id": "p"}]
    });
    assert_eq!(
        x.extract_param("Observation", "patient", &with_contained_patient),
        [reference(Some("Patient"), None, Some("#p"))]
    );
}

#[test]
fn blood_pressure_components() {
    let observation = example("Observation-blood-pressure.json");
    let x = extractor();
    let composite = x.extract_param("Observation", "component-code-value-quantity", &observation);
    assert_eq!(composite.len(), 2);
    let IndexValue::Composite(parts) = &composite[0] else {
        panic!("{composite:?}")
    };
    assert_eq!(
        parts[0][0],
        token("http://loinc.org", "8480-6", &["Systolic blood pressure"])
    );
    assert_eq!(
        parts[1],
        [quantity(
            "107",
            "http://unitsofmeasure.org",
            "mm[Hg]",
            "mmHg"
        )]
    );
    let values = x.extract_param("Observation", "component-value-quantity", &observation);
    assert_eq!(values.len(), 2);
    // combo-code covers the code and the component codes.
    let combo = x.extract_param("Observation", "combo-code", &observation);
    assert!(combo.len() > 3);
    let combo_composite = x.extract_param("Observation", "combo-code-value-quantity", &observation);
    assert_eq!(combo_composite.len(), 2, "the root has no value");
}

#[test]
fn patient_example() {
    let patient = example("Patient-example.json");
    let x = extractor();
    let names: Vec<IndexValue> = [
        "Chalmers", "Peter", "James", "Jim", "Windsor", "Peter", "James",
    ]
    .iter()
    .map(|s| IndexValue::String((*s).to_owned()))
    .collect();
    assert_eq!(x.extract_param("Patient", "name", &patient), names);
    assert_eq!(
        x.extract_param("Patient", "family", &patient),
        [
            IndexValue::String("Chalmers".to_owned()),
            IndexValue::String("Windsor".to_owned())
        ]
    );
    assert_eq!(
        x.extract_param("Patient", "birthdate", &patient),
        [date("1974-12-25")]
    );
    assert_eq!(
        x.extract_param("Patient", "identifier", &patient),
        [IndexValue::Token {
            system: Some("urn:oid:1.2.36.146.595.217.0.1".to_owned()),
            code: Some("12345".to_owned()),
            text: Vec::new(),
            of_type: vec![(
                Some("http://terminology.hl7.org/CodeSystem/v2-0203".to_owned()),
                Some("MR".to_owned())
            )],
        }]
    );
    assert_eq!(
        x.extract_param("Patient", "phone", &patient),
        [
            token("", "(03) 5555 6473", &[]),
            token("", "(03) 3410 5613", &[]),
            token("", "(03) 5555 8834", &[])
        ]
    );
    assert!(x.extract_param("Patient", "email", &patient).is_empty());
    assert_eq!(
        x.extract_param("Patient", "deceased", &patient),
        [token("", "false", &[])]
    );
    assert_eq!(
        x.extract_param("Patient", "organization", &patient),
        [reference(Some("Organization"), Some("1"), None)]
    );
    assert_eq!(
        x.extract_param("Patient", "gender", &patient),
        [token("", "male", &[])]
    );
    assert_eq!(
        x.extract_param("Patient", "active", &patient),
        [token("", "true", &[])]
    );
    let address = x.extract_param("Patient", "address", &patient);
    assert!(address.contains(&IndexValue::String("PleasantVille".to_owned())));
    assert!(address.contains(&IndexValue::String("534 Erewhon St".to_owned())));
    let text = x.extract_param("Patient", "_text", &patient);
    assert_eq!(text.len(), 1);
    let deceased =
        json!({"resourceType": "Patient", "deceasedDateTime": "2015-02-14T13:42:00+10:00"});
    assert_eq!(
        x.extract_param("Patient", "deceased", &deceased),
        [token("", "true", &[])]
    );
    assert_eq!(
        x.extract_param("Patient", "death-date", &deceased),
        [date("2015-02-14T13:42:00+10:00")]
    );
}

#[test]
fn periods_lengths_and_positions() {
    let x = extractor();
    let encounter = example("Encounter-f001.json");
    assert_eq!(
        x.extract_param("Encounter", "length", &encounter),
        [quantity("140", "http://unitsofmeasure.org", "min", "min")]
    );
    let open = json!({"resourceType": "Encounter", "period": {"start": "2020-01-01"}});
    assert_eq!(
        x.extract_param("Encounter", "date", &open),
        [IndexValue::Date {
            start: crate::time::parse_range("2020-01-01").unwrap().0,
            end: i64::MAX
        }]
    );
    let closed = json!({"resourceType": "Encounter", "period": {"start": "2020-01-01T10:00:00Z", "end": "2020-01-02"}});
    assert_eq!(
        x.extract_param("Encounter", "date", &closed),
        [IndexValue::Date {
            start: crate::time::parse_range("2020-01-01T10:00:00Z").unwrap().0,
            end: crate::time::parse_range("2020-01-02").unwrap().1
        }]
    );
    let location = example("Location-1.json");
    assert_eq!(
        x.extract_param("Location", "near", &location),
        [IndexValue::Position {
            latitude: 42.25475478,
            longitude: -83.6945691
        }]
    );
    let money: Value = serde_json::from_str(
        r#"{"resourceType": "Invoice", "totalNet": {"value": 12.50, "currency": "EUR"}}"#,
    )
    .unwrap();
    assert_eq!(
        x.extract_param("Invoice", "totalnet", &money),
        [IndexValue::Quantity {
            value: "12.50".to_owned(),
            system: Some(CURRENCY_SYSTEM.to_owned()),
            code: Some("EUR".to_owned()),
            unit: None
        }]
    );
    let timing = json!({"resourceType": "CarePlan", "activity": [{"detail": {"scheduledTiming": {
        "event": ["2020-05-01"], "repeat": {"boundsPeriod": {"start": "2020-06-01", "end": "2020-06-30"}}}}}]});
    assert_eq!(
        x.extract_param("CarePlan", "activity-date", &timing).len(),
        2
    );
    let canonical = json!({"resourceType": "ActivityDefinition", "relatedArtifact": [
        {"type": "citation", "resource": "http://x.org/fhir/Library/other"},
        {"type": "derived-from", "resource": "http://x.org/fhir/Questionnaire/q1|2.0"}]});
    assert_eq!(
        x.extract_param("ActivityDefinition", "derived-from", &canonical),
        [reference(
            Some("Questionnaire"),
            Some("q1"),
            Some("http://x.org/fhir/Questionnaire/q1")
        )]
    );
}

#[test]
fn molecular_sequence_composites_use_the_resource() {
    let x = extractor();
    let sequence = json!({
        "resourceType": "MolecularSequence",
        "type": "dna",
        "coordinateSystem": 0,
        "referenceSeq": {"chromosome": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/chromosome-human", "code": "1"}]}, "windowStart": 22125500, "windowEnd": 22125510},
        "variant": [{"start": 22125503, "end": 22125504}]
    });
    let values = x.extract_param(
        "MolecularSequence",
        "chromosome-variant-coordinate",
        &sequence,
    );
    assert_eq!(values.len(), 1);
    let IndexValue::Composite(parts) = &values[0] else {
        panic!("{values:?}")
    };
    assert_eq!(parts[1], [IndexValue::Number("22125503".to_owned())]);
}

#[test]
fn custom_parameters_with_extensions() {
    let custom = SearchParam::from_resource(&json!({
        "resourceType": "SearchParameter",
        "url": "http://example.org/SearchParameter/eye",
        "code": "eye",
        "base": ["Patient"],
        "type": "token",
        "expression": "Patient.extension('http://example.org/eye').value"
    }))
    .unwrap();
    let registry = Registry::with_custom(Registry::r4(), vec![custom]);
    let x = Extractor::new(&registry);
    let patient = json!({"resourceType": "Patient", "extension": [
        {"url": "http://example.org/other", "valueCode": "no"},
        {"url": "http://example.org/eye", "valueCode": "blue"}]});
    assert_eq!(
        x.extract_param("Patient", "eye", &patient),
        [token("", "blue", &[])]
    );
}

#[test]
fn common_parameters_and_bundles() {
    let x = extractor();
    let patient = json!({
        "resourceType": "Patient",
        "id": "p1",
        "meta": {
            "lastUpdated": "2024-01-02T03:04:05.678Z",
            "profile": ["http://example.org/StructureDefinition/p|1.0"],
            "tag": [{"system": "http://example.org/tags", "code": "t1", "display": "Tag"}],
            "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
            "source": "http://example.org/source#a"
        }
    });
    assert_eq!(
        x.extract_param("Patient", "_lastUpdated", &patient),
        [date("2024-01-02T03:04:05.678Z")]
    );
    assert_eq!(
        x.extract_param("Patient", "_profile", &patient),
        [IndexValue::Uri(
            "http://example.org/StructureDefinition/p|1.0".to_owned()
        )]
    );
    assert_eq!(
        x.extract_param("Patient", "_tag", &patient),
        [token("http://example.org/tags", "t1", &["Tag"])]
    );
    assert_eq!(x.extract_param("Patient", "_security", &patient).len(), 1);
    assert_eq!(
        x.extract_param("Patient", "_source", &patient),
        [IndexValue::Uri("http://example.org/source#a".to_owned())]
    );
    assert!(x.extract_param("Patient", "_query", &patient).is_empty());
    let bundle = json!({
        "resourceType": "Bundle",
        "id": "b",
        "type": "document",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:0c3151bd"},
        "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Composition", "id": "c1"}},
            {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Patient", "id": "p1"}}
        ]
    });
    assert_eq!(
        x.extract_param("Bundle", "composition", &bundle),
        [reference(Some("Composition"), Some("c1"), None)]
    );
    assert_eq!(
        x.extract_param("Bundle", "type", &bundle),
        [token("", "document", &[])]
    );
    assert!(x.extract_param("Bundle", "_text", &bundle).is_empty());
    let registry = Registry::r4();
    let bad = SearchParam {
        expression: Some("Patient.name.where(".to_owned()),
        ..registry.get("Patient", "name").unwrap().clone()
    };
    assert!(Extractor::check(registry, &bad).is_err());
    // Outside the fast path, the general FHIRPath engine evaluates it.
    let general = SearchParam {
        code: "given-names".to_owned(),
        url: "http://example.org/SearchParameter/given-names".to_owned(),
        expression: Some("Patient.name.select(given)".to_owned()),
        ..registry.get("Patient", "name").unwrap().clone()
    };
    assert!(Extractor::check(registry, &general).is_ok());
    let custom = Registry::with_custom(registry, vec![general]);
    let extractor = Extractor::new(&custom);
    let patient = json!({"resourceType": "Patient", "name": [{"given": ["Ada", "Augusta"]}]});
    assert_eq!(
        extractor.extract_param("Patient", "given-names", &patient),
        [
            IndexValue::String("Ada".to_owned()),
            IndexValue::String("Augusta".to_owned())
        ]
    );
    assert!(Extractor::check(registry, registry.get("Patient", "name").unwrap()).is_ok());
}

#[test]
fn extractor_is_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Extractor>();
    shared::<Registry>();
}

/// Shapes the official expressions do not use but tenant parameters may.
#[test]
fn custom_expression_shapes() {
    let param = |code: &str, base: &str, ty: &str, expression: &str| {
        SearchParam::from_resource(&json!({
            "resourceType": "SearchParameter",
            "url": format!("http://example.org/SearchParameter/{code}"),
            "code": code,
            "base": [base],
            "type": ty,
            "expression": expression
        }))
        .unwrap()
    };
    let registry = Registry::with_custom(
        Registry::r4(),
        vec![
            param(
                "first-family",
                "Patient",
                "string",
                "Patient.name.first().family",
            ),
            param("second-given", "Patient", "string", "Patient.name[1].given"),
            param(
                "race",
                "Patient",
                "token",
                "Patient.extension.where(url='http://e.org/race').value.ofType(Coding)",
            ),
            param("has-photo", "Patient", "token", "Patient.photo.exists()"),
            param(
                "entry-name",
                "Bundle",
                "string",
                "Bundle.entry.resource.ofType(Patient).name.family",
            ),
            param(
                "entry-id",
                "Bundle",
                "token",
                "Bundle.entry.resource.id | Bundle.entry.resource.identifier",
            ),
        ],
    );
    let x = Extractor::new(&registry);
    assert_eq!(x.unsupported_expressions(), []);
    let patient = json!({
        "resourceType": "Patient",
        "name": [{"family": "A", "given": ["x"]}, {"family": "B", "given": ["y", "z"]}],
        "extension": [
            {"url": "http://e.org/other", "valueCoding": {"code": "no"}},
            {"url": "http://e.org/race", "valueCoding": {"system": "http://s", "code": "2106-3"}},
            {"url": "http://e.org/race", "valueString": "not a coding"}
        ]
    });
    let strings = |values: &[&str]| -> Vec<IndexValue> {
        values
            .iter()
            .map(|v| IndexValue::String((*v).to_owned()))
            .collect()
    };
    assert_eq!(
        x.extract_param("Patient", "first-family", &patient),
        strings(&["A"])
    );
    assert_eq!(
        x.extract_param("Patient", "second-given", &patient),
        strings(&["y", "z"])
    );
    assert_eq!(
        x.extract_param("Patient", "race", &patient),
        [token("http://s", "2106-3", &[])]
    );
    assert_eq!(
        x.extract_param("Patient", "has-photo", &patient),
        [token("", "false", &[])]
    );
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p", "name": [{"family": "F"}]}},
        {"resource": {"resourceType": "Organization", "id": "o", "name": "Org",
            "identifier": [{"system": "http://s", "value": "v"}]}}
    ]});
    assert_eq!(
        x.extract_param("Bundle", "entry-name", &bundle),
        strings(&["F"])
    );
    assert_eq!(
        x.extract_param("Bundle", "entry-id", &bundle),
        [
            token("", "p", &[]),
            token("", "o", &[]),
            token("http://s", "v", &[])
        ]
    );
}

#[test]
fn official_expressions_compile() {
    let unsupported = extractor().unsupported_expressions();
    for (param, reason) in &unsupported {
        println!(
            "unsupported: {} {:?}: {reason}",
            param.url, param.expression
        );
    }
    assert!(unsupported.is_empty(), "{} unsupported", unsupported.len());
}

/// Extracts every parameter from every example of the package: nothing panics.
#[test]
fn extracts_from_every_example() {
    let x = extractor();
    let examples = all_examples();
    assert!(examples.len() > 2000, "{}", examples.len());
    let mut values = 0usize;
    let mut resources = 0usize;
    let mut stack: Vec<&Value> = examples.iter().map(|(_, v)| v).collect();
    let start = std::time::Instant::now();
    while let Some(resource) = stack.pop() {
        let Some(ty) = resource["resourceType"].as_str() else {
            continue;
        };
        resources += 1;
        for (_, found) in x.extract(ty, resource) {
            values += found.len();
        }
        for entry in resource["entry"].as_array().into_iter().flatten() {
            if entry["resource"].is_object() {
                stack.push(&entry["resource"]);
            }
        }
    }
    let elapsed = start.elapsed();
    println!(
        "{} files, {resources} resources (with bundle entries), {values} values, {:?} ({:?} per resource)",
        examples.len(),
        elapsed,
        elapsed / resources.max(1) as u32
    );
}

/// Which official parameters never take a value in the examples (a diagnostic).
#[test]
#[ignore]
fn parameters_without_values_in_the_examples() {
    let x = extractor();
    let examples = all_examples();
    let mut hits: HashMap<String, usize> = HashMap::new();
    let mut stack: Vec<&Value> = examples.iter().map(|(_, v)| v).collect();
    let mut types = std::collections::HashSet::new();
    while let Some(resource) = stack.pop() {
        let Some(ty) = resource["resourceType"].as_str() else {
            continue;
        };
        types.insert(ty.to_owned());
        for (param, _) in x.extract(ty, resource) {
            *hits.entry(format!("{ty}.{}", param.code)).or_default() += 1;
        }
        for entry in resource["entry"].as_array().into_iter().flatten() {
            if entry["resource"].is_object() {
                stack.push(&entry["resource"]);
            }
        }
    }
    let mut missing = Vec::new();
    for ty in &types {
        for param in x.registry().for_type(ty) {
            let key = format!("{ty}.{}", param.code);
            if !hits.contains_key(&key) {
                missing.push(format!("{key} {:?}", param.expression));
            }
        }
    }
    missing.sort();
    for line in &missing {
        println!("NOVALUE {line}");
    }
    println!("{} (type, param) pairs without values", missing.len());
}

/// The cost of extracting every parameter of Observation and Patient examples (a measure, not
/// an assertion; meaningful in an optimised build).
#[test]
#[ignore]
fn extraction_cost() {
    let start = std::time::Instant::now();
    let registry = Registry::r4();
    let parsed = start.elapsed();
    let start = std::time::Instant::now();
    let x = Extractor::new(registry);
    println!(
        "registry parsed in {parsed:?}, {} parameters compiled in {:?}",
        registry.params().len(),
        start.elapsed()
    );
    let examples = all_examples();
    let synthea = [synthea_observation(), synthea_patient()];
    for resource in &synthea {
        let ty = resource["resourceType"].as_str().unwrap();
        let rounds = 2000;
        let mut values = 0;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            values += x.extract(ty, resource).len();
        }
        let all = start.elapsed() / rounds;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            values += content_text(resource).len() + narrative_text(resource).len();
        }
        let texts = start.elapsed() / rounds;
        println!(
            "Synthea-like {ty}: {all:?} for all parameters, of which {texts:?} for _content and _text ({values})"
        );
    }
    for ty in ["Observation", "Patient"] {
        let resources: Vec<&Value> = examples
            .iter()
            .filter(|(name, value)| {
                name.starts_with(&format!("package/{ty}-")) && value["resourceType"] == ty
            })
            .map(|(_, v)| v)
            .collect();
        let rounds = 20;
        let mut values = 0;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            for resource in &resources {
                values += x.extract(ty, resource).len();
            }
        }
        let all = start.elapsed() / (rounds * resources.len()) as u32;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            for resource in &resources {
                values += content_text(resource).len() + narrative_text(resource).len();
            }
        }
        let texts = start.elapsed() / (rounds * resources.len()) as u32;
        println!(
            "{ty}: {} examples, {all:?} per resource for all parameters, of which {texts:?} for _content and _text ({values})",
            resources.len()
        );
    }
}

/// An Observation as Synthea writes them.
fn synthea_observation() -> Value {
    json!({
        "resourceType": "Observation",
        "id": "7f0c3a1e-4b55-4c3b-9d0e-2b5f3b3c6a10",
        "meta": {"lastUpdated": "2024-03-01T10:00:00.000Z", "versionId": "1"},
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2", "display": "Body Height"}], "text": "Body Height"},
        "subject": {"reference": "urn:uuid:0b7a5c8e-5d3b-4f4e-8c55-5b2f2f3f9c11"},
        "encounter": {"reference": "urn:uuid:a2f4e0d1-7c3e-4b1a-9f6e-3c8d2b1a0e22"},
        "effectiveDateTime": "2015-06-02T13:37:40+02:00",
        "issued": "2015-06-02T13:37:40.913+02:00",
        "valueQuantity": {"value": 172.4, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"}
    })
}

/// A Patient as Synthea writes them.
fn synthea_patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "0b7a5c8e-5d3b-4f4e-8c55-5b2f2f3f9c11",
        "meta": {"lastUpdated": "2024-03-01T10:00:00.000Z", "versionId": "1"},
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Generated by <a href=\"https://github.com/synthetichealth/synthea\">Synthea</a>.Version identifier: v2.4.0-404-ge7ce2295\n .   Person seed: 5672472262263013435  Population seed: 0</div>"},
        "extension": [
            {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "extension": [
                {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3", "display": "White"}},
                {"url": "text", "valueString": "White"}]},
            {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity", "extension": [
                {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2186-5", "display": "Not Hispanic or Latino"}},
                {"url": "text", "valueString": "Not Hispanic or Latino"}]},
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName", "valueString": "Carmelia328 Konopelski743"},
            {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex", "valueCode": "M"},
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress": {"city": "Boston", "state": "Massachusetts", "country": "US"}},
            {"url": "http://synthetichealth.github.io/synthea/disability-adjusted-life-years", "valueDecimal": 0.0},
            {"url": "http://synthetichealth.github.io/synthea/quality-adjusted-life-years", "valueDecimal": 26.0}
        ],
        "identifier": [
            {"system": "https://github.com/synthetichealth/synthea", "value": "0b7a5c8e-5d3b-4f4e-8c55-5b2f2f3f9c11"},
            {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical Record Number"}], "text": "Medical Record Number"}, "system": "http://hospital.smarthealthit.org", "value": "0b7a5c8e-5d3b-4f4e-8c55-5b2f2f3f9c11"},
            {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS", "display": "Social Security Number"}], "text": "Social Security Number"}, "system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-62-4431"},
            {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "DL", "display": "Driver's License"}], "text": "Driver's License"}, "system": "urn:oid:2.16.840.1.113883.4.3.25", "value": "S99962402"}
        ],
        "name": [{"use": "official", "family": "Abbott774", "given": ["Milo271"], "prefix": ["Mr."]}],
        "telecom": [{"system": "phone", "value": "555-330-3263", "use": "home"}],
        "gender": "male",
        "birthDate": "1992-06-30",
        "address": [{"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/geolocation", "extension": [
            {"url": "latitude", "valueDecimal": 42.46}, {"url": "longitude", "valueDecimal": -71.06}]}],
            "line": ["621 Kirlin Ranch Unit 10"], "city": "Saugus", "state": "Massachusetts", "postalCode": "01906", "country": "US"}],
        "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "S", "display": "Never Married"}], "text": "Never Married"},
        "multipleBirthBoolean": false,
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-US", "display": "English"}], "text": "English"}}]
    })
}
