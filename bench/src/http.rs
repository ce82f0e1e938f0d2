//! A thin FHIR client over one keep-alive `reqwest` pool: what every workload sends.

use std::time::Duration;

use serde_json::Value;

/// The FHIR base of one running server and the HTTP client used to reach it.
#[derive(Clone)]
pub struct Fhir {
    client: reqwest::Client,
    /// Base URL without a trailing slash.
    pub base: String,
}

/// A response, read completely.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// The `Location` header (or `Content-Location`), for creates.
    pub location: Option<String>,
}

impl Answer {
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("answer is not JSON: {e}"))
    }

    /// `Ok(self)` for a 2xx, else an error quoting the status and the start of the body.
    pub fn success(self) -> Result<Answer, String> {
        if (200..300).contains(&self.status) {
            Ok(self)
        } else {
            let text = String::from_utf8_lossy(&self.body);
            Err(format!(
                "HTTP {}: {}",
                self.status,
                &text[..text.floor_char_boundary(300)]
            ))
        }
    }
}

impl Fhir {
    pub fn new(base: &str, connections: usize) -> Fhir {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections.max(1))
            .timeout(Duration::from_secs(900))
            .tcp_nodelay(true)
            .build()
            .expect("an HTTP client");
        Fhir {
            client,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// `path` relative to the base (`Patient/1`), or an absolute URL (a `next` link).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else if path.is_empty() {
            self.base.clone()
        } else {
            format!("{}/{}", self.base, path)
        }
    }

    pub async fn get(&self, path: &str) -> Result<Answer, String> {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn delete(&self, path: &str) -> Result<Answer, String> {
        self.send(self.client.delete(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Vec<u8>, minimal: bool) -> Result<Answer, String> {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/fhir+json")
            .body(body);
        if minimal {
            request = request.header("prefer", "return=minimal");
        }
        self.send(request).await
    }

    pub async fn put(&self, path: &str, body: Vec<u8>) -> Result<Answer, String> {
        let request = self
            .client
            .put(self.url(path))
            .header("content-type", "application/fhir+json")
            .header("prefer", "return=minimal")
            .body(body);
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, String> {
        let response = request
            .header("accept", "application/fhir+json")
            .send()
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .or_else(|| response.headers().get("content-location"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
            .to_vec();
        Ok(Answer {
            status,
            body,
            location,
        })
    }
}

/// The `next` link of a searchset Bundle.
pub fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
}

/// The entries of a searchset Bundle that matched (not the included ones).
pub fn matches(bundle: &Value) -> usize {
    bundle["entry"].as_array().map_or(0, |entries| {
        entries
            .iter()
            .filter(|e| e["search"]["mode"] != "include" && e["search"]["mode"] != "outcome")
            .count()
    })
}

/// Whether an entry of a batch- or transaction-response succeeded (a 2xx status).
pub fn entry_succeeded(entry: &Value) -> bool {
    entry["response"]["status"]
        .as_str()
        .is_some_and(|s| s.starts_with('2'))
}

/// All the entries of a Bundle.
pub fn entries(bundle: &Value) -> usize {
    bundle["entry"].as_array().map_or(0, Vec::len)
}

/// Percent-encodes every parameter value of a query (`a=b|c&d=e` → `a=b%7Cc&d=e`).
pub fn encode_query(query: &str) -> String {
    let Some((path, params)) = query.split_once('?') else {
        return query.to_owned();
    };
    let params: Vec<String> = params
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, v)) => {
                let v: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
                format!("{k}={v}")
            }
            None => p.to_owned(),
        })
        .collect();
    format!("{path}?{}", params.join("&"))
}
