//! One entry of a batch or transaction Bundle, read into what it asks for: method, url split
//! into path and query, fullUrl, resource and preconditions.

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use fhir_core::Issue;
use serde_json::Value;

use crate::error::FhirError;

/// `Bundle.entry.request.method` (R4 HTTPVerb).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryMethod {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl EntryMethod {
    fn parse(text: &str) -> Option<EntryMethod> {
        Some(match text {
            "GET" => EntryMethod::Get,
            "HEAD" => EntryMethod::Head,
            "POST" => EntryMethod::Post,
            "PUT" => EntryMethod::Put,
            "PATCH" => EntryMethod::Patch,
            "DELETE" => EntryMethod::Delete,
            _ => return None,
        })
    }

    pub fn http(self) -> Method {
        match self {
            EntryMethod::Get => Method::GET,
            EntryMethod::Head => Method::HEAD,
            EntryMethod::Post => Method::POST,
            EntryMethod::Put => Method::PUT,
            EntryMethod::Patch => Method::PATCH,
            EntryMethod::Delete => Method::DELETE,
        }
    }

    /// The transaction processing order of FHIR R4 (http.html#trules): DELETE, POST,
    /// PUT/PATCH, GET/HEAD.
    pub fn order(self) -> u8 {
        match self {
            EntryMethod::Delete => 0,
            EntryMethod::Post => 1,
            EntryMethod::Put | EntryMethod::Patch => 2,
            EntryMethod::Get | EntryMethod::Head => 3,
        }
    }

    pub fn is_read(self) -> bool {
        matches!(self, EntryMethod::Get | EntryMethod::Head)
    }
}

/// One entry, borrowed from the Bundle.
#[derive(Debug)]
pub struct Entry<'a> {
    /// Its position in the Bundle.
    pub index: usize,
    pub method: EntryMethod,
    /// `request.url` as given.
    pub url: &'a str,
    /// The url's path below the base, in segments (`["Patient", "1"]`).
    pub segments: Vec<&'a str>,
    /// The url's query (`identifier=x`), when it has one.
    pub query: Option<&'a str>,
    pub full_url: Option<&'a str>,
    pub resource: Option<&'a Value>,
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_none_exist: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
}

impl Entry<'_> {
    /// Where the entry is, as a FHIRPath expression.
    pub fn location(&self) -> String {
        location(self.index)
    }

    /// An error of this entry (400).
    pub fn error(&self, message: impl Into<String>) -> FhirError {
        entry_error(self.index, message)
    }

    /// The preconditions must be those of the method (FHIR R4 Bundle.entry.request): ifMatch
    /// on PUT, PATCH and DELETE; ifNoneMatch on GET, HEAD and PUT (`*` only: create only);
    /// ifModifiedSince on GET and HEAD; ifNoneExist on POST. Anything else would be silently
    /// ignored, which a client would not expect of a precondition.
    pub fn check_preconditions(&self) -> Result<(), FhirError> {
        use EntryMethod::{Delete, Get, Head, Patch, Post, Put};
        let allowed: [(&str, Option<&str>, &[EntryMethod]); 4] = [
            ("ifMatch", self.if_match, &[Put, Patch, Delete]),
            ("ifNoneMatch", self.if_none_match, &[Get, Head, Put]),
            ("ifModifiedSince", self.if_modified_since, &[Get, Head]),
            ("ifNoneExist", self.if_none_exist, &[Post]),
        ];
        for (name, value, methods) in allowed {
            if value.is_some() && !methods.contains(&self.method) {
                return Err(self.error(format!(
                    "request.{name} does not apply to {}",
                    self.method.http()
                )));
            }
        }
        if self.method == Put && self.if_none_match.is_some_and(|v| v.trim() != "*") {
            return Err(self.error("request.ifNoneMatch on a PUT must be '*' (create only)"));
        }
        if self.if_match.is_some() && self.if_none_match.is_some() {
            return Err(self.error("request.ifMatch and request.ifNoneMatch contradict each other"));
        }
        Ok(())
    }

    /// The version named by `ifMatch`, if any.
    pub fn if_match_version(&self) -> Result<Option<i64>, FhirError> {
        let Some(text) = self.if_match else {
            return Ok(None);
        };
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix("W/").unwrap_or(trimmed);
        bare.strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| {
                self.error(format!(
                    "request.ifMatch '{text}' is not a version ETag such as W/\"1\""
                ))
            })
    }

    /// `true` for `PUT` with `ifNoneMatch: *`.
    pub fn create_only(&self) -> bool {
        self.method == EntryMethod::Put && self.if_none_match.is_some()
    }
}

pub fn location(index: usize) -> String {
    format!("Bundle.entry[{index}]")
}

pub fn entry_error(index: usize, message: impl Into<String>) -> FhirError {
    FhirError::Issues {
        status: StatusCode::BAD_REQUEST,
        issues: vec![Issue::at("invalid", location(index), message.into())],
    }
}

/// Reads every entry. A Bundle whose entries lack a request, a known method or a url, or that
/// repeats a fullUrl, breaks the rules of Bundle itself (bdl-7, the required HTTPVerb binding):
/// it is refused as a whole, batch or transaction.
pub fn read_entries<'a>(base: &str, raw: &'a [Value]) -> Result<Vec<Entry<'a>>, FhirError> {
    let mut entries = Vec::with_capacity(raw.len());
    let mut full_urls = HashSet::new();
    for (index, entry) in raw.iter().enumerate() {
        let request = &entry["request"];
        let (Some(method), Some(url)) = (request["method"].as_str(), request["url"].as_str())
        else {
            return Err(entry_error(
                index,
                "the entry needs a request with a method and a url",
            ));
        };
        let method = EntryMethod::parse(method).ok_or_else(|| {
            entry_error(
                index,
                format!(
                    "'{method}' is not a method of a Bundle entry (GET, HEAD, POST, PUT, PATCH, DELETE)"
                ),
            )
        })?;
        let full_url = entry["fullUrl"].as_str();
        if let Some(full_url) = full_url
            && !full_urls.insert(full_url)
        {
            return Err(entry_error(
                index,
                format!("the fullUrl '{full_url}' appears twice"),
            ));
        }
        let (path, query) = match url.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (url, None),
        };
        let path = path.strip_prefix(base).unwrap_or(path);
        let text = |name: &str| request[name].as_str();
        entries.push(Entry {
            index,
            method,
            url,
            segments: path.split('/').filter(|s| !s.is_empty()).collect(),
            query,
            full_url,
            resource: entry.get("resource").filter(|r| r.is_object()),
            if_match: text("ifMatch"),
            if_none_match: text("ifNoneMatch"),
            if_none_exist: text("ifNoneExist"),
            if_modified_since: text("ifModifiedSince"),
        });
    }
    Ok(entries)
}
