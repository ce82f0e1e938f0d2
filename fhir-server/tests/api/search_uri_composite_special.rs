//! uri search (`:above`, `:below`, exact), composite parameters, and `Location?near`.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::search_helpers::{expect_ids, put};

crate::on_both_backends!(
    uri_exact_above_below,
    composite_code_value_quantity,
    special_near,
);

async fn uri_exact_above_below(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (id, url) in [
        ("v1", "http://acme.org/fhir/ValueSet/a"),
        ("v2", "http://acme.org/fhir/ValueSet/b"),
        ("v3", "http://acme.org/other/ValueSet/c"),
        ("v4", "http://acme.org/fhir"),
        ("v5", "urn:oid:1.2.3"),
    ] {
        put(
            &app,
            &format!("ValueSet/{id}"),
            json!({"status": "active", "url": url}),
        )
        .await;
    }
    put(&app, "ValueSet/nourl", json!({"status": "draft"})).await;
    // Exact: the whole uri, case-sensitive, no prefix.
    expect_ids(
        &app,
        "ValueSet?url=http://acme.org/fhir/ValueSet/a",
        &["v1"],
    )
    .await;
    expect_ids(&app, "ValueSet?url=http://acme.org/fhir/ValueSet", &[]).await;
    expect_ids(&app, "ValueSet?url=HTTP://ACME.ORG/fhir/ValueSet/a", &[]).await;
    expect_ids(&app, "ValueSet?url=urn:oid:1.2.3", &["v5"]).await;
    // :below: the stored uri starts with the value.
    expect_ids(
        &app,
        "ValueSet?url:below=http://acme.org/fhir/",
        &["v1", "v2"],
    )
    .await;
    expect_ids(
        &app,
        "ValueSet?url:below=http://acme.org/fhir",
        &["v1", "v2", "v4"],
    )
    .await;
    // :above: the value starts with the stored uri.
    expect_ids(
        &app,
        "ValueSet?url:above=http://acme.org/fhir/ValueSet/a/_history/5",
        &["v1", "v4"],
    )
    .await;
    expect_ids(&app, "ValueSet?url:missing=true", &["nourl"]).await;
    expect_ids(
        &app,
        "ValueSet?url=urn:oid:1.2.3,http://acme.org/fhir",
        &["v4", "v5"],
    )
    .await;
}

fn loinc(code: &str) -> Value {
    json!({"coding": [{"system": "http://loinc.org", "code": code}]})
}

fn mmhg(value: u32) -> Value {
    json!({"value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"})
}

/// c1 systolic 120, c2 systolic 140, c3 diastolic 80; panels c4 (systolic 125, diastolic 85)
/// and c5 (systolic 150, diastolic 70) as components.
async fn composite_code_value_quantity(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (id, code, value) in [
        ("c1", "8480-6", 120),
        ("c2", "8480-6", 140),
        ("c3", "8462-4", 80),
    ] {
        put(
            &app,
            &format!("Observation/{id}"),
            json!({"status": "final", "code": loinc(code), "valueQuantity": mmhg(value)}),
        )
        .await;
    }
    for (id, systolic, diastolic) in [("c4", 125, 85), ("c5", 150, 70)] {
        put(
            &app,
            &format!("Observation/{id}"),
            json!({
                "status": "final",
                "code": loinc("85354-9"),
                "component": [
                    {"code": loinc("8480-6"), "valueQuantity": mmhg(systolic)},
                    {"code": loinc("8462-4"), "valueQuantity": mmhg(diastolic)}
                ]
            }),
        )
        .await;
    }
    expect_ids(
        &app,
        "Observation?code-value-quantity=http://loinc.org|8480-6$lt130",
        &["c1"],
    )
    .await;
    expect_ids(
        &app,
        "Observation?code-value-quantity=http://loinc.org|8480-6$gt130",
        &["c2"],
    )
    .await;
    expect_ids(&app, "Observation?code-value-quantity=8462-4$80", &["c3"]).await;
    expect_ids(
        &app,
        "Observation?code-value-quantity=8462-4$80|http://unitsofmeasure.org|mm[Hg]",
        &["c3"],
    )
    .await;
    // OR of tuples.
    expect_ids(
        &app,
        "Observation?code-value-quantity=http://loinc.org|8480-6$lt130,http://loinc.org|8462-4$80",
        &["c1", "c3"],
    )
    .await;
    // Components: the code and the value must be in the same component.
    expect_ids(
        &app,
        "Observation?component-code-value-quantity=http://loinc.org|8480-6$lt130",
        &["c4"],
    )
    .await;
    expect_ids(
        &app,
        "Observation?component-code-value-quantity=http://loinc.org|8462-4$lt80",
        &["c5"],
    )
    .await;
    // c4 has a component above 100 (systolic 125) but its diastolic is 85: no match.
    expect_ids(
        &app,
        "Observation?component-code-value-quantity=http://loinc.org|8462-4$gt100",
        &[],
    )
    .await;
    // AND of two tuples, each in its own component.
    expect_ids(
        &app,
        "Observation?component-code-value-quantity=http://loinc.org|8480-6$lt130\
         &component-code-value-quantity=http://loinc.org|8462-4$gt80",
        &["c4"],
    )
    .await;
    // The panel's own code has no value: the plain composite does not see components.
    expect_ids(
        &app,
        "Observation?code-value-quantity=http://loinc.org|8480-6$125",
        &[],
    )
    .await;
}

/// l1 in Ann Arbor (0.8 km from the search point 42.25, -83.69), l2 in Detroit (53.8 km from
/// it, 0.4 km from 42.33, -83.05), l3 without a position, l4 in London.
async fn special_near(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (id, position) in [
        (
            "l1",
            Some(json!({"latitude": 42.2565, "longitude": -83.69471})),
        ),
        (
            "l2",
            Some(json!({"latitude": 42.3314, "longitude": -83.0458})),
        ),
        ("l3", None),
        ("l4", Some(json!({"latitude": 51.5, "longitude": -0.12}))),
    ] {
        let mut location = json!({"name": id});
        if let Some(position) = position {
            location["position"] = position;
        }
        put(&app, &format!("Location/{id}"), location).await;
    }
    expect_ids(&app, "Location?near=42.25|-83.69|10|km", &["l1"]).await;
    expect_ids(&app, "Location?near=42.25|-83.69|100|km", &["l1", "l2"]).await;
    expect_ids(&app, "Location?near=42.33|-83.05|5|km", &["l2"]).await;
    // Without units, kilometres.
    expect_ids(&app, "Location?near=42.25|-83.69|10", &["l1"]).await;
    // Miles: 30 mi is 48.3 km (l1 only), 40 mi is 64.4 km (l1 and l2).
    expect_ids(&app, "Location?near=42.25|-83.69|30|%5Bmi_i%5D", &["l1"]).await;
    expect_ids(
        &app,
        "Location?near=42.25|-83.69|40|%5Bmi_i%5D",
        &["l1", "l2"],
    )
    .await;
    // Nothing near the middle of the Pacific.
    expect_ids(&app, "Location?near=0|-150|100|km", &[]).await;
    // near with another parameter.
    expect_ids(&app, "Location?near=42.25|-83.69|100|km&name=l2", &["l2"]).await;
}
