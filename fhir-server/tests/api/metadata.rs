//! The CapabilityStatement says what is implemented, and what it says answers.

use reqwest::Method;

use crate::helpers::{Backend, TestApp, json_body};

crate::on_both_backends!(
    capability_statement_lists_every_type_and_interaction,
    healthz_answers
);

async fn capability_statement_lists_every_type_and_interaction(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let statement = json_body(app.get("/metadata").await).await;
    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    assert_eq!(statement["kind"], "instance");
    let resources = statement["rest"][0]["resource"].as_array().unwrap();
    assert_eq!(resources.len(), 146);
    let patient = resources.iter().find(|r| r["type"] == "Patient").unwrap();
    let interactions: Vec<&str> = patient["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    for expected in [
        "read",
        "vread",
        "update",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    ] {
        assert!(interactions.contains(&expected));
    }
    // Every official parameter of the type is listed with its definition and type.
    let params = patient["searchParam"].as_array().unwrap();
    let birthdate = params.iter().find(|p| p["name"] == "birthdate").unwrap();
    assert_eq!(birthdate["type"], "date");
    assert_eq!(
        birthdate["definition"],
        "http://hl7.org/fhir/SearchParameter/individual-birthdate"
    );
    assert!(params.iter().any(|p| p["name"] == "_id"));
    let total: usize = resources
        .iter()
        .map(|r| r["searchParam"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(total > 1_375, "{total} parameters listed");
    assert_eq!(patient["conditionalCreate"], true);
    assert_eq!(patient["operation"][0]["name"], "everything");
    // Each advertised interaction answers with something other than 404/405/501.
    let created = json_body(app.create(&crate::helpers::patient("Cap")).await).await;
    let id = created["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/Patient/{id}")),
        (Method::GET, format!("/Patient/{id}/_history/1")),
        (Method::GET, format!("/Patient/{id}/_history")),
        (Method::GET, "/Patient/_history".to_owned()),
        (Method::GET, "/_history".to_owned()),
        (Method::GET, "/Patient?name=Cap".to_owned()),
        (Method::GET, "/?_type=Patient".to_owned()),
        (Method::GET, format!("/Patient/{id}/$everything")),
    ] {
        let status = app
            .request(method, &path)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 200, "{path}");
    }
    let xml = app.get("/metadata?_format=xml").await.text().await.unwrap();
    assert!(
        xml.contains("<CapabilityStatement xmlns=\"http://hl7.org/fhir\""),
        "{}",
        &xml[..200.min(xml.len())]
    );
}

async fn healthz_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .get(format!("{}/healthz", app.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_base_url_is_used_in_absolute_urls() {
    let options = crate::helpers::Options {
        base_url: Some("https://fhir.example.org/".into()),
        ..crate::helpers::Options::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, options).await;
    let created = app.create(&crate::helpers::patient("Base")).await;
    let location = crate::helpers::header(&created, "location");
    assert!(
        location.starts_with("https://fhir.example.org/fhir/Patient/"),
        "{location}"
    );
    let history = json_body(app.get("/_history").await).await;
    let full_url = history["entry"][0]["fullUrl"].as_str().unwrap();
    assert!(
        full_url.starts_with("https://fhir.example.org/fhir/Patient/"),
        "{full_url}"
    );
}
