//! Real SMART clients against the server on 127.0.0.1: the PyPI `fhirclient` (smart-on-fhir's
//! client-py) does the authorization code flow with PKCE, a refresh, and SMART Backend
//! Services (private_key_jwt, RS384), with its own discovery, PKCE and token handling. The
//! clients are installed from PyPI into `target/test-clients/` on first use (pinned in
//! `tests/clients/requirements.txt`); `FHIR_TEST_PYTHON` may name a Python that has them.

use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use serde_json::json;
use smart_auth::clients::{ClientKind, NewClient};
use smart_auth::{Role, users};

use crate::authz_helpers::AuthApp;
use crate::helpers::Backend;

/// A Python with the clients of `requirements.txt`.
fn python() -> PathBuf {
    if let Ok(python) = std::env::var("FHIR_TEST_PYTHON") {
        return PathBuf::from(python);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let requirements = manifest.join("tests/clients/requirements.txt");
    let venv = manifest.join("../target/test-clients/venv");
    let python = venv.join("bin/python");
    let marker = venv.join("installed.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    // One installer at a time (tests run in parallel threads of this process).
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(status.success(), "python3 -m venv failed");
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements)
            .status()
            .expect("pip runs");
        assert!(
            status.success(),
            "installing the SMART clients from PyPI failed"
        );
        std::fs::write(&marker, wanted).unwrap();
    }
    python
}

fn pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

crate::on_both_backends!(python_fhirclient_completes_code_refresh_and_backend_flows);

async fn python_fhirclient_completes_code_refresh_and_backend_flows(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.seed(json!({"resourceType": "Patient", "id": "pa", "name": [{"family": "Adams"}]}))
        .await;
    let store = app.app.store.as_ref();
    let password = "correct horse battery staple";
    users::create(
        store,
        "default",
        "alice",
        password,
        Role::Patient,
        Some("Patient/pa"),
    )
    .await
    .unwrap();
    let redirect = "http://127.0.0.1:9/callback";
    let (public, _) = smart_auth::clients::create(
        store,
        "default",
        NewClient {
            name: "client-py".into(),
            kind: Some(ClientKind::Public),
            redirect_uris: vec![redirect.into()],
            scope: "launch/patient openid fhirUser patient/*.rs offline_access".into(),
            ..NewClient::default()
        },
    )
    .await
    .unwrap();
    let key = smart_auth::jose::SigningKey::generate("backend-key-1".into()).unwrap();
    let mut jwk = key.public().to_json(Some(smart_auth::jose::Alg::Rs384));
    jwk["alg"] = json!("RS384");
    let (backend_client, _) = smart_auth::clients::create(
        store,
        "default",
        NewClient {
            name: "backend".into(),
            kind: Some(ClientKind::ConfidentialAsymmetric),
            scope: "system/Patient.rs".into(),
            jwks: Some(json!({"keys": [jwk]})),
            ..NewClient::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("backend.pem");
    std::fs::write(&key_file, pem(&key.to_pkcs8().unwrap())).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python_fhirclient.py");
    let base = app.app.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .args([
                base.as_str(),
                public.client_id.as_str(),
                redirect,
                "alice",
                password,
                "pa",
                backend_client.client_id.as_str(),
            ])
            .arg(&key_file)
            .arg("backend-key-1")
            .output()
            .expect("the client script runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all passed"),
        "client-py failed:\n{stdout}\n{stderr}"
    );
}
