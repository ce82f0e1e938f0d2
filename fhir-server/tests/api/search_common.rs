//! The parameters of every resource: `_id`, `_lastUpdated`, `_tag`, `_profile`, `_security`,
//! `_source`, `_text`, `_content`, `_list`, and system search over several types (`_type`).

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::search_helpers::{expect_ids, expect_refs, put, search};

crate::on_both_backends!(
    common_id_and_last_updated,
    common_meta_parameters,
    common_text_content_and_list,
    system_search_over_types,
);

async fn common_id_and_last_updated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = put(&app, "Patient/a", json!({"gender": "male"})).await;
    // Let the clock move so that the two resources have different lastUpdated instants.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let b = put(&app, "Patient/b", json!({"gender": "female"})).await;
    put(
        &app,
        "Organization/a",
        json!({"name": "Same id, other type"}),
    )
    .await;
    let a_time = a["meta"]["lastUpdated"].as_str().unwrap().to_owned();
    let b_time = b["meta"]["lastUpdated"].as_str().unwrap().to_owned();
    assert!(b_time > a_time, "{a_time} {b_time}");

    expect_ids(&app, "Patient?_id=a", &["a"]).await;
    expect_ids(&app, "Patient?_id=a,b", &["a", "b"]).await;
    expect_ids(&app, "Patient?_id=zzz", &[]).await;
    // AND of two different ids: nothing has both.
    expect_ids(&app, "Patient?_id=a&_id=b", &[]).await;
    expect_ids(&app, "Patient?_id:not=a", &["b"]).await;
    // Ids are exact.
    expect_ids(&app, "Patient?_id=A", &[]).await;
    expect_ids(&app, "Patient?_id:missing=false", &["a", "b"]).await;

    // lastUpdated is an instant (milliseconds, UTC; `+` would have to be sent as %2B).
    expect_ids(&app, &format!("Patient?_lastUpdated={a_time}"), &["a"]).await;
    expect_ids(&app, &format!("Patient?_lastUpdated=eq{b_time}"), &["b"]).await;
    expect_ids(&app, &format!("Patient?_lastUpdated=gt{a_time}"), &["b"]).await;
    expect_ids(
        &app,
        &format!("Patient?_lastUpdated=ge{a_time}"),
        &["a", "b"],
    )
    .await;
    expect_ids(&app, &format!("Patient?_lastUpdated=lt{b_time}"), &["a"]).await;
    expect_ids(
        &app,
        &format!("Patient?_lastUpdated=le{b_time}"),
        &["a", "b"],
    )
    .await;
    expect_ids(&app, &format!("Patient?_lastUpdated=ne{a_time}"), &["b"]).await;
    let year = &a_time[..4];
    expect_ids(&app, &format!("Patient?_lastUpdated={year}"), &["a", "b"]).await;
    expect_ids(&app, "Patient?_lastUpdated=lt2001", &[]).await;
    expect_ids(&app, "Patient?_lastUpdated=gt2001", &["a", "b"]).await;
    // An update moves lastUpdated.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let a2 = put(&app, "Patient/a", json!({"gender": "other"})).await;
    let a2_time = a2["meta"]["lastUpdated"].as_str().unwrap().to_owned();
    assert!(a2_time > b_time);
    expect_ids(&app, &format!("Patient?_lastUpdated=gt{b_time}"), &["a"]).await;
    expect_ids(&app, &format!("Patient?_lastUpdated={a_time}"), &[]).await;
    expect_ids(&app, &format!("Patient?_lastUpdated=eb{a2_time}"), &["b"]).await;
}

async fn common_meta_parameters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/m1",
        json!({
            "meta": {
                "tag": [{"system": "http://acme.org/tags", "code": "vip"}],
                "profile": ["http://acme.org/StructureDefinition/p1"],
                "security": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                    "code": "R"
                }],
                "source": "http://acme.org/source#abc"
            }
        }),
    )
    .await;
    put(
        &app,
        "Patient/m2",
        json!({
            "meta": {
                "tag": [
                    {"system": "http://other.org/tags", "code": "vip"},
                    {"system": "http://acme.org/tags", "code": "test"}
                ],
                "profile": ["http://acme.org/StructureDefinition/p2"],
                "source": "http://acme.org/source#def"
            }
        }),
    )
    .await;
    put(&app, "Patient/m3", json!({"gender": "male"})).await;
    // _tag is a token.
    expect_ids(&app, "Patient?_tag=vip", &["m1", "m2"]).await;
    expect_ids(&app, "Patient?_tag=http://acme.org/tags|vip", &["m1"]).await;
    expect_ids(&app, "Patient?_tag=http://acme.org/tags|", &["m1", "m2"]).await;
    expect_ids(&app, "Patient?_tag:not=vip", &["m3"]).await;
    expect_ids(&app, "Patient?_tag:missing=true", &["m3"]).await;
    // _profile is a canonical (uri) match.
    expect_ids(
        &app,
        "Patient?_profile=http://acme.org/StructureDefinition/p1",
        &["m1"],
    )
    .await;
    expect_ids(
        &app,
        "Patient?_profile=http://acme.org/StructureDefinition",
        &[],
    )
    .await;
    // _security is a token.
    expect_ids(
        &app,
        "Patient?_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R",
        &["m1"],
    )
    .await;
    expect_ids(&app, "Patient?_security=N", &[]).await;
    // _source is a uri (`#` sent as %23).
    expect_ids(
        &app,
        "Patient?_source=http://acme.org/source%23abc",
        &["m1"],
    )
    .await;
    expect_ids(&app, "Patient?_source=http://acme.org/source", &[]).await;
    expect_ids(
        &app,
        "Patient?_source:below=http://acme.org/source",
        &["m1", "m2"],
    )
    .await;
    // Meta changes with an update: m1 loses its tag.
    put(&app, "Patient/m1", json!({"gender": "female"})).await;
    expect_ids(&app, "Patient?_tag=vip", &["m2"]).await;
}

async fn common_text_content_and_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/t1",
        json!({
            "text": {
                "status": "generated",
                "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Loves <b>tennis</b> and chess</div>"
            },
            "name": [{"family": "Lovelace"}]
        }),
    )
    .await;
    put(
        &app,
        "Patient/t2",
        json!({
            "text": {
                "status": "generated",
                "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Plays golf</div>"
            },
            "name": [{"family": "Hopper"}]
        }),
    )
    .await;
    // _text searches the narrative (words, case-insensitive), not the markup.
    expect_ids(&app, "Patient?_text=tennis", &["t1"]).await;
    expect_ids(&app, "Patient?_text=GOLF", &["t2"]).await;
    expect_ids(&app, "Patient?_text=lovelace", &[]).await;
    expect_ids(&app, "Patient?_text=xmlns", &[]).await;
    // _content searches the whole resource's text, narrative included.
    expect_ids(&app, "Patient?_content=lovelace", &["t1"]).await;
    expect_ids(&app, "Patient?_content=chess", &["t1"]).await;
    expect_ids(&app, "Patient?_content=hopper", &["t2"]).await;

    // _list: the resources a List refers to.
    put(&app, "Patient/t3", json!({"gender": "male"})).await;
    put(
        &app,
        "List/l1",
        json!({
            "status": "current",
            "mode": "working",
            "entry": [
                {"item": {"reference": "Patient/t1"}},
                {"item": {"reference": "Patient/t3"}},
                {"item": {"reference": "Organization/o1"}}
            ]
        }),
    )
    .await;
    expect_ids(&app, "Patient?_list=l1", &["t1", "t3"]).await;
    expect_ids(&app, "Patient?_list=nolist", &[]).await;
}

async fn system_search_over_types(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tag = json!({"tag": [{"system": "http://acme.org/tags", "code": "sys"}]});
    put(&app, "Patient/s1", json!({"meta": tag})).await;
    put(&app, "Organization/s1", json!({"meta": tag, "name": "Org"})).await;
    put(
        &app,
        "Observation/s2",
        json!({"meta": tag, "status": "final", "code": {"text": "x"}}),
    )
    .await;
    put(&app, "Patient/s3", json!({"gender": "male"})).await;
    // Without _type: every type.
    expect_refs(
        &app,
        "?_tag=http://acme.org/tags|sys",
        &["Observation/s2", "Organization/s1", "Patient/s1"],
    )
    .await;
    expect_refs(&app, "?_id=s1", &["Organization/s1", "Patient/s1"]).await;
    // _type restricts the types.
    expect_refs(
        &app,
        "?_type=Patient,Organization",
        &["Organization/s1", "Patient/s1", "Patient/s3"],
    )
    .await;
    expect_refs(&app, "?_type=Observation&_tag=sys", &["Observation/s2"]).await;
    expect_refs(
        &app,
        "?_type=Patient&_id=s1,s3",
        &["Patient/s1", "Patient/s3"],
    )
    .await;
    // Type search parameters common to the listed types work with _type.
    expect_refs(
        &app,
        "?_type=Organization,Patient&_lastUpdated=gt2001",
        &["Organization/s1", "Patient/s1", "Patient/s3"],
    )
    .await;
    // Full URLs name the right type.
    let bundle = search(&app, "?_id=s1").await;
    let mut urls: Vec<String> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap().to_owned())
        .collect();
    urls.sort();
    assert_eq!(
        urls,
        [
            format!("{}/Organization/s1", app.base),
            format!("{}/Patient/s1", app.base)
        ]
    );
}
