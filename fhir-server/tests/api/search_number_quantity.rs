//! Number and quantity search. A search value has the implicit precision of how it is written:
//! `0.5` means [0.45, 0.55), `5.4` means [5.35, 5.45), `60` means [59.5, 60.5). `eq` (the
//! default) asks for a stored value in that range, `ne` for one outside it; `gt`, `lt`, `ge`,
//! `le` compare with the value itself; `ap` is within 10%.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::search_helpers::{expect_ids, put};

crate::on_both_backends!(
    number_precision_and_prefixes,
    number_with_several_values,
    quantity_precision_units_and_prefixes,
);

fn risk(probabilities: &[&str]) -> Value {
    // Decimals are written as raw JSON numbers so that their precision (0.50) is kept.
    let predictions: Vec<Value> = probabilities
        .iter()
        .map(|p| serde_json::from_str(&format!("{{\"probabilityDecimal\": {p}}}")).unwrap())
        .collect();
    json!({
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": {"reference": "Patient/x"},
        "prediction": predictions
    })
}

/// n1 0.5, n2 0.50, n3 0.54, n4 0.55, n5 0.4, n6 0.7.
async fn number_precision_and_prefixes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (id, p) in [
        ("n1", "0.5"),
        ("n2", "0.50"),
        ("n3", "0.54"),
        ("n4", "0.55"),
        ("n5", "0.4"),
        ("n6", "0.7"),
    ] {
        put(&app, &format!("RiskAssessment/{id}"), risk(&[p])).await;
    }
    // 0.5 means [0.45, 0.55): 0.5, 0.50 and 0.54; 0.55 is the excluded upper bound.
    expect_ids(&app, "RiskAssessment?probability=0.5", &["n1", "n2", "n3"]).await;
    expect_ids(
        &app,
        "RiskAssessment?probability=eq0.5",
        &["n1", "n2", "n3"],
    )
    .await;
    // 0.54 means [0.535, 0.545).
    expect_ids(&app, "RiskAssessment?probability=0.54", &["n3"]).await;
    // 0.55 means [0.545, 0.555).
    expect_ids(&app, "RiskAssessment?probability=0.55", &["n4"]).await;
    expect_ids(
        &app,
        "RiskAssessment?probability=ne0.5",
        &["n4", "n5", "n6"],
    )
    .await;
    // gt/lt/ge/le against the value: 0.50 equals 0.5.
    expect_ids(
        &app,
        "RiskAssessment?probability=gt0.5",
        &["n3", "n4", "n6"],
    )
    .await;
    expect_ids(&app, "RiskAssessment?probability=lt0.5", &["n5"]).await;
    expect_ids(
        &app,
        "RiskAssessment?probability=ge0.54",
        &["n3", "n4", "n6"],
    )
    .await;
    expect_ids(
        &app,
        "RiskAssessment?probability=le0.5",
        &["n1", "n2", "n5"],
    )
    .await;
    // ap 0.7: within 10%, [0.63, 0.77].
    expect_ids(&app, "RiskAssessment?probability=ap0.7", &["n6"]).await;
    // An integer: 1 means [0.5, 1.5), whose lower bound 0.5 is included; 0.54, 0.55 and 0.7
    // lie inside it too (R4: eq holds when the search range contains the target's range).
    expect_ids(
        &app,
        "RiskAssessment?probability=1",
        &["n1", "n2", "n3", "n4", "n6"],
    )
    .await;
    expect_ids(&app, "RiskAssessment?probability=2", &[]).await;
    expect_ids(
        &app,
        "RiskAssessment?probability=lt1",
        &["n1", "n2", "n3", "n4", "n5", "n6"],
    )
    .await;
    // OR and AND.
    expect_ids(&app, "RiskAssessment?probability=0.4,0.7", &["n5", "n6"]).await;
    expect_ids(
        &app,
        "RiskAssessment?probability=gt0.45&probability=lt0.55",
        &["n1", "n2", "n3"],
    )
    .await;
    // :missing.
    let mut none = risk(&[]);
    none.as_object_mut().unwrap().remove("prediction");
    put(&app, "RiskAssessment/none", none).await;
    expect_ids(&app, "RiskAssessment?probability:missing=true", &["none"]).await;
}

/// A resource with several values matches when one of them does.
async fn number_with_several_values(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(&app, "RiskAssessment/both", risk(&["0.1", "0.9"])).await;
    put(&app, "RiskAssessment/mid", risk(&["0.5"])).await;
    expect_ids(&app, "RiskAssessment?probability=gt0.8", &["both"]).await;
    expect_ids(&app, "RiskAssessment?probability=lt0.2", &["both"]).await;
    expect_ids(&app, "RiskAssessment?probability=0.9", &["both"]).await;
    // AND: both conditions, each satisfied by one of the values.
    expect_ids(
        &app,
        "RiskAssessment?probability=gt0.8&probability=lt0.2",
        &["both"],
    )
    .await;
    // ne: some value is outside [0.45, 0.55).
    expect_ids(&app, "RiskAssessment?probability=ne0.5", &["both"]).await;
}

fn quantity_observation(value: &str, unit: Option<&str>, code: Option<&str>) -> Value {
    let mut quantity: Value = serde_json::from_str(&format!("{{\"value\": {value}}}")).unwrap();
    if let Some(unit) = unit {
        quantity["unit"] = json!(unit);
    }
    if let Some(code) = code {
        quantity["system"] = json!("http://unitsofmeasure.org");
        quantity["code"] = json!(code);
    }
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "quantity"},
        "valueQuantity": quantity
    })
}

/// q1 5.4 mg, q2 5.40 mg, q3 5.45 mg, q4 5.4 g, q5 59 mg, q6 61 mg (all UCUM), q7 40 with the
/// unit text "mmHg" only (no system, no code).
async fn quantity_precision_units_and_prefixes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (id, value, code) in [
        ("q1", "5.4", "mg"),
        ("q2", "5.40", "mg"),
        ("q3", "5.45", "mg"),
        ("q4", "5.4", "g"),
        ("q5", "59", "mg"),
        ("q6", "61", "mg"),
    ] {
        put(
            &app,
            &format!("Observation/{id}"),
            quantity_observation(value, Some(code), Some(code)),
        )
        .await;
    }
    put(
        &app,
        "Observation/q7",
        quantity_observation("40", Some("mmHg"), None),
    )
    .await;
    // 5.4 means [5.35, 5.45), whatever the unit: 5.4 mg, 5.40 mg, 5.4 g; not 5.45.
    expect_ids(&app, "Observation?value-quantity=5.4", &["q1", "q2", "q4"]).await;
    // With system and code.
    expect_ids(
        &app,
        "Observation?value-quantity=5.4|http://unitsofmeasure.org|mg",
        &["q1", "q2"],
    )
    .await;
    // `value||code`: no system; the code (or the unit text) must match.
    expect_ids(&app, "Observation?value-quantity=5.4||mg", &["q1", "q2"]).await;
    expect_ids(&app, "Observation?value-quantity=5.4||g", &["q4"]).await;
    expect_ids(&app, "Observation?value-quantity=40||mmHg", &["q7"]).await;
    // eq5.45 means [5.445, 5.455).
    expect_ids(&app, "Observation?value-quantity=eq5.45", &["q3"]).await;
    expect_ids(
        &app,
        "Observation?value-quantity=5.45|http://unitsofmeasure.org|mg",
        &["q3"],
    )
    .await;
    // Prefixes with units.
    expect_ids(
        &app,
        "Observation?value-quantity=lt60|http://unitsofmeasure.org|mg",
        &["q1", "q2", "q3", "q5"],
    )
    .await;
    expect_ids(&app, "Observation?value-quantity=gt60", &["q6"]).await;
    expect_ids(&app, "Observation?value-quantity=ge59||mg", &["q5", "q6"]).await;
    expect_ids(
        &app,
        "Observation?value-quantity=le5.4|http://unitsofmeasure.org|mg",
        &["q1", "q2"],
    )
    .await;
    // ne without units: outside [5.35, 5.45).
    expect_ids(
        &app,
        "Observation?value-quantity=ne5.4",
        &["q3", "q5", "q6", "q7"],
    )
    .await;
    // ap 60: within 10%, [54, 66].
    expect_ids(&app, "Observation?value-quantity=ap60", &["q5", "q6"]).await;
    // 60 means [59.5, 60.5): neither 59 nor 61.
    expect_ids(&app, "Observation?value-quantity=60", &[]).await;
    // The wrong system.
    expect_ids(
        &app,
        "Observation?value-quantity=5.4|http://acme.org/units|mg",
        &[],
    )
    .await;
    // OR.
    expect_ids(
        &app,
        "Observation?value-quantity=59||mg,40||mmHg",
        &["q5", "q7"],
    )
    .await;
    // :missing: a value that is not a Quantity.
    put(
        &app,
        "Observation/text",
        json!({"status": "final", "code": {"text": "quantity"}, "valueString": "high"}),
    )
    .await;
    expect_ids(&app, "Observation?value-quantity:missing=true", &["text"]).await;
    expect_ids(
        &app,
        "Observation?value-quantity:missing=false",
        &["q1", "q2", "q3", "q4", "q5", "q6", "q7"],
    )
    .await;
}
