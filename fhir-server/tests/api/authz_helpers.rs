//! A server with authorization on, tokens minted by the authorization server's own library for
//! given scopes, users and patients (the OAuth flows that issue them are tested in `oauth_*`),
//! and a small clinic: two patients, their observations, a practitioner.

use reqwest::{Method, Response};
use serde_json::{Value, json};
use smart_auth::tokens::{Grant, GrantUser};
use smart_auth::{AuthServer, Role, Settings};

use crate::helpers::{Backend, Options, TestApp, expect_outcome, json_body};

pub const LAB: &str = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory";

/// A server with authorization on and a way to mint tokens.
pub struct AuthApp {
    pub app: TestApp,
    pub auth: AuthServer,
    /// A backend token with `system/*.cruds`, to set up data.
    pub system: String,
}

impl AuthApp {
    pub async fn spawn(backend: Backend) -> AuthApp {
        let app = TestApp::spawn_with(
            backend,
            Options {
                auth: true,
                ..Options::default()
            },
        )
        .await;
        let auth = AuthServer::new(app.store.clone(), Settings::default());
        let mut this = AuthApp {
            app,
            auth,
            system: String::new(),
        };
        this.system = this.backend_token("system/*.cruds").await;
        this
    }

    /// The number of versions in the default tenant (system history, with the system token).
    pub async fn version_count(&self) -> u64 {
        let bundle = json_body(self.get(&self.system, "/_history?_count=0").await).await;
        bundle["total"].as_u64().expect("total")
    }

    /// A token for a user with `role` (and `fhir_user`), the given scopes and launch patient.
    pub async fn user_token(
        &self,
        scope: &str,
        role: Role,
        fhir_user: Option<&str>,
        patient: Option<&str>,
    ) -> String {
        let user = GrantUser {
            id: uuid::Uuid::new_v4().to_string(),
            username: format!("{role}-user"),
            role,
            fhir_user: fhir_user.map(str::to_owned),
            credentials_epoch: 0,
        };
        self.mint(scope, Some(user), patient, "default", &self.app.base)
            .await
    }

    /// A clinician's token (the user is `Practitioner/dr`) with a launch patient or none.
    pub async fn clinician_token(&self, scope: &str, patient: Option<&str>) -> String {
        self.user_token(scope, Role::Clinician, Some("Practitioner/dr"), patient)
            .await
    }

    /// Sends a request and expects an OperationOutcome with `status`.
    pub async fn expect(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        status: u16,
    ) -> Value {
        expect_outcome(self.send(token, method, path, body).await, status).await
    }

    /// A token of a patient user whose record is `Patient/{patient}`.
    pub async fn patient_token(&self, scope: &str, patient: &str) -> String {
        self.user_token(
            scope,
            Role::Patient,
            Some(&format!("Patient/{patient}")),
            Some(patient),
        )
        .await
    }

    /// A backend-services token (no user).
    pub async fn backend_token(&self, scope: &str) -> String {
        self.mint(scope, None, None, "default", &self.app.base)
            .await
    }

    /// A token of any tenant and base.
    pub async fn mint(
        &self,
        scope: &str,
        user: Option<GrantUser>,
        patient: Option<&str>,
        tenant: &str,
        base: &str,
    ) -> String {
        let now = fhir_core::time::now_millis();
        let grant = Grant {
            id: smart_auth::jose::random_token(16),
            client_id: "test-app".into(),
            user,
            scope: scope.into(),
            patient: patient.map(str::to_owned),
            encounter: None,
            created_at: now,
            expires_at: now + 3_600_000,
            refresh_sha256: None,
            session: None,
        };
        self.auth.save_grant(tenant, &grant).await.unwrap();
        self.auth
            .issue_access_token(tenant, base, &grant, 3600)
            .await
            .unwrap()
            .0
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.send(token, Method::GET, path, None).await
    }

    pub async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .app
            .request(method, path)
            .bearer_auth(token)
            .header("content-type", "application/fhir+json");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        request.send().await.unwrap()
    }

    /// PUTs a resource with the system token; panics unless it is stored.
    pub async fn seed(&self, resource: Value) {
        let path = format!(
            "/{}/{}",
            resource["resourceType"].as_str().unwrap(),
            resource["id"].as_str().unwrap()
        );
        let response = self
            .send(&self.system, Method::PUT, &path, Some(&resource))
            .await;
        assert!(
            response.status().is_success(),
            "seeding {path}: {}",
            response.status()
        );
    }

    /// Two patients (`pa`, `pb`), a practitioner (`dr`), and observations: `a-lab` and
    /// `a-vital` of `pa`, `b-lab` of `pb`, and `a-derived` of `pa` derived from `b-lab`.
    pub async fn clinic(&self) {
        for (id, family) in [("pa", "Adams"), ("pb", "Brown")] {
            self.seed(
                json!({"resourceType": "Patient", "id": id, "name": [{"family": family}],
                "generalPractitioner": [{"reference": "Practitioner/dr"}]}),
            )
            .await;
        }
        self.seed(json!({"resourceType": "Practitioner", "id": "dr", "name": [{"family": "Who"}]}))
            .await;
        self.seed(observation("a-lab", "pa", "laboratory", None))
            .await;
        self.seed(observation("a-vital", "pa", "vital-signs", None))
            .await;
        self.seed(observation("b-lab", "pb", "laboratory", None))
            .await;
        self.seed(observation("a-derived", "pa", "laboratory", Some("b-lab")))
            .await;
    }
}

/// An Observation of a patient in a category.
pub fn observation(id: &str, patient: &str, category: &str, derived_from: Option<&str>) -> Value {
    let mut observation = json!({
        "resourceType": "Observation", "id": id, "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "performer": [{"reference": "Practitioner/dr"}]
    });
    if let Some(source) = derived_from {
        observation["derivedFrom"] = json!([{"reference": format!("Observation/{source}")}]);
    }
    observation
}

/// The ids of the resources of a searchset Bundle, `Type/id`, in order.
pub fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    format!(
                        "{}/{}",
                        e["resource"]["resourceType"].as_str().unwrap_or_default(),
                        e["resource"]["id"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
