//! `TestApp`: a real server on port 0 over a real store, and a client with one method per
//! interaction.

use std::sync::Arc;

use fhir_core::ResourceStore;
use fhir_server::{Application, Config};
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;
use tokio::sync::oneshot;

/// The database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// The default tenant's base: `http://127.0.0.1:PORT/fhir`.
    pub base: String,
    pub client: Client,
    pub store: Arc<dyn ResourceStore>,
    shutdown: Option<oneshot::Sender<()>>,
    _data_dir: Option<tempfile::TempDir>,
}

/// Options for a test server.
#[derive(Debug, Clone)]
pub struct Options {
    pub max_body_bytes: usize,
    /// PostgreSQL only: the pool size.
    pub max_connections: u32,
    /// PostgreSQL only: `false` leaves the application's tenant predicate out (RLS alone).
    pub tenant_filter: bool,
    /// `--base-url`.
    pub base_url: Option<String>,
    /// `--bundle-max-entries`.
    pub bundle_max_entries: usize,
    /// `--auth=on`: the SMART authorization server and bearer tokens on every request.
    pub auth: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_body_bytes: 1024 * 1024,
            max_connections: 8,
            tenant_filter: true,
            base_url: None,
            bundle_max_entries: 10_000,
            auth: false,
        }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, Options::default()).await
    }

    pub async fn spawn_with(backend: Backend, options: Options) -> TestApp {
        let (store, data_dir): (Arc<dyn ResourceStore>, _) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite:{}", dir.path().join("fhir.db").display());
                (
                    fhir_core::store::open(&url).await.expect("open sqlite"),
                    Some(dir),
                )
            }
            Backend::Postgres => {
                let url = fhir_core::testing::postgres_url().await;
                let store = fhir_core::store::postgres::PostgresStore::open_with(
                    &url,
                    fhir_core::store::postgres::PostgresOptions {
                        max_connections: options.max_connections,
                        tenant_filter: options.tenant_filter,
                    },
                )
                .await
                .expect("open postgres");
                (Arc::new(store), None)
            }
        };
        let mut config = Config::for_database("unused");
        config.max_body_bytes = options.max_body_bytes;
        config.base_url = options.base_url.clone();
        config.bundle_max_entries = options.bundle_max_entries;
        if options.auth {
            config.auth = "on".into();
        }
        let app = Application::with_store(config, store.clone())
            .await
            .expect("bind");
        let address = app.local_addr().expect("address");
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            app.run_until(async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        let origin = format!("http://{address}");
        TestApp {
            base: format!("{origin}/fhir"),
            origin,
            client: Client::builder()
                .no_gzip()
                .no_brotli()
                .build()
                .expect("client"),
            store,
            shutdown: Some(shutdown),
            _data_dir: data_dir,
        }
    }

    /// A request to a path below the default tenant's base (`/Patient/1`).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("GET")
    }

    /// POST or PUT a JSON resource.
    pub async fn send_json(&self, method: Method, path: &str, resource: &Value) -> Response {
        self.request(method, path)
            .header("content-type", "application/fhir+json")
            .body(resource.to_string())
            .send()
            .await
            .expect("send")
    }

    pub async fn create(&self, resource: &Value) -> Response {
        let path = format!(
            "/{}",
            resource["resourceType"].as_str().expect("resourceType")
        );
        self.send_json(Method::POST, &path, resource).await
    }

    pub async fn put(&self, resource: &Value) -> Response {
        let path = format!(
            "/{}/{}",
            resource["resourceType"].as_str().expect("resourceType"),
            resource["id"].as_str().expect("id")
        );
        self.send_json(Method::PUT, &path, resource).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path)
            .send()
            .await
            .expect("DELETE")
    }

    /// The number of versions in the default tenant (system history total): used to prove that
    /// a refused request stored nothing.
    pub async fn version_count(&self) -> u64 {
        let bundle = json_body(self.get("/_history?_count=0").await).await;
        bundle["total"].as_u64().expect("total")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The body as JSON, after checking it is FHIR JSON.
pub async fn json_body(response: Response) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    assert!(
        content_type.starts_with("application/fhir+json"),
        "content-type {content_type}: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts the status and that the body is an OperationOutcome; returns it.
pub async fn expect_outcome(response: Response, status: u16) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of {}",
        response.url()
    );
    let outcome = json_body(response).await;
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    assert!(
        outcome["issue"]
            .as_array()
            .is_some_and(|issues| !issues.is_empty()),
        "{outcome}"
    );
    outcome
}

/// A header as text.
pub fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Defines one test per backend for an `async fn(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// A minimal valid Patient.
pub fn patient(family: &str) -> Value {
    serde_json::json!({
        "resourceType": "Patient",
        "name": [{ "family": family, "given": ["Ada"] }],
        "gender": "female",
        "birthDate": "1990-04-01"
    })
}
