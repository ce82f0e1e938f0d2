//! Content negotiation, XML in and out, `_pretty`, `_summary`, `_elements`, compression.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, TestApp, expect_outcome, header, json_body, patient};

crate::on_both_backends!(
    format_follows_format_parameter_then_accept,
    xml_bodies_are_accepted_and_xml_is_served,
    pretty_summary_and_elements_shape_the_read,
    responses_are_compressed_when_asked,
);

async fn format_follows_format_parameter_then_accept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = json_body(app.create(&patient("Neg")).await).await;
    let path = format!("/Patient/{}", created["id"].as_str().unwrap());
    let accept = |value: &'static str| {
        app.request(Method::GET, &path)
            .header("accept", value)
            .send()
    };
    assert!(
        header(
            &accept("application/fhir+xml").await.unwrap(),
            "content-type"
        )
        .starts_with("application/fhir+xml")
    );
    assert!(
        header(
            &accept("application/xml;q=0.5, application/fhir+json")
                .await
                .unwrap(),
            "content-type"
        )
        .starts_with("application/fhir+json")
    );
    assert!(
        header(
            &accept("text/html,*/*;q=0.8").await.unwrap(),
            "content-type"
        )
        .starts_with("application/fhir+json")
    );
    expect_outcome(accept("text/plain").await.unwrap(), 406).await;
    for (format, expected) in [
        ("xml", "application/fhir+xml"),
        ("json", "application/fhir+json"),
        ("application/fhir+xml", "application/fhir+xml"),
        ("application/json", "application/fhir+json"),
    ] {
        let response = app
            .get(&format!("{path}?_format={}", urlencode(format)))
            .await;
        assert!(
            header(&response, "content-type").starts_with(expected),
            "{format}"
        );
    }
    // _format wins over Accept.
    let response = app
        .request(Method::GET, &format!("{path}?_format=json"))
        .header("accept", "application/fhir+xml")
        .send()
        .await
        .unwrap();
    assert!(header(&response, "content-type").starts_with("application/fhir+json"));
    expect_outcome(app.get(&format!("{path}?_format=text")).await, 406).await;
    // Errors come in the negotiated format too.
    let missing = app.get("/Patient/none?_format=xml").await;
    assert_eq!(missing.status(), 404);
    let text = missing.text().await.unwrap();
    assert!(text.contains("<OperationOutcome"), "{text}");
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace('/', "%2F")
}

async fn xml_bodies_are_accepted_and_xml_is_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Patient xmlns="http://hl7.org/fhir">
  <id value="x1"/>
  <name><family value="Xml"/><given value="Ada"/><given value="B"><extension url="http://example.org/e"><valueString value="ext"/></extension></given></name>
  <birthDate value="1990-04-01"/>
</Patient>"#;
    let response = app
        .request(Method::PUT, "/Patient/x1")
        .header("content-type", "application/fhir+xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let stored = json_body(app.get("/Patient/x1").await).await;
    assert_eq!(stored["name"][0]["given"], json!(["Ada", "B"]));
    assert_eq!(
        stored["name"][0]["_given"][1]["extension"][0]["valueString"],
        "ext"
    );
    let served = app
        .get("/Patient/x1?_format=xml")
        .await
        .text()
        .await
        .unwrap();
    assert!(served.contains("<family value=\"Xml\"/>"), "{served}");
    assert!(served.contains("<valueString value=\"ext\"/>"), "{served}");
    let round = fhir_core::xml::from_xml(served.as_bytes()).unwrap();
    assert_eq!(round, stored);
}

async fn pretty_summary_and_elements_shape_the_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut resource = patient("Shape");
    resource["text"] = json!({"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Shape</div>"});
    resource["maritalStatus"] = json!({"text": "single"});
    let created = json_body(app.create(&resource).await).await;
    let path = format!("/Patient/{}", created["id"].as_str().unwrap());
    let pretty = app
        .get(&format!("{path}?_pretty=true"))
        .await
        .text()
        .await
        .unwrap();
    assert!(pretty.contains("\n  \"id\""), "{pretty}");
    let summary = json_body(app.get(&format!("{path}?_summary=true")).await).await;
    assert!(
        summary.get("text").is_none() && summary.get("maritalStatus").is_none(),
        "{summary}"
    );
    assert_eq!(summary["birthDate"], "1990-04-01");
    assert!(summary["meta"]["tag"].to_string().contains("SUBSETTED"));
    let data = json_body(app.get(&format!("{path}?_summary=data")).await).await;
    assert!(data.get("text").is_none() && data.get("maritalStatus").is_some());
    let text = json_body(app.get(&format!("{path}?_summary=text")).await).await;
    assert!(text.get("text").is_some() && text.get("name").is_none());
    let elements = json_body(app.get(&format!("{path}?_elements=birthDate,gender")).await).await;
    let keys: Vec<&String> = elements.as_object().unwrap().keys().collect();
    assert!(
        keys.iter()
            .all(|k| ["resourceType", "id", "meta", "birthDate", "gender"].contains(&k.as_str())),
        "{keys:?}"
    );
    assert!(elements.get("birthDate").is_some());
    expect_outcome(app.get(&format!("{path}?_summary=nonsense")).await, 400).await;
}

async fn responses_are_compressed_when_asked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for encoding in ["gzip", "br"] {
        let response = app
            .request(Method::GET, "/metadata")
            .header("accept-encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "content-encoding"), encoding);
    }
    let plain = app.get("/metadata").await;
    assert!(header(&plain, "content-encoding").is_empty());
}
