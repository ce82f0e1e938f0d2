//! Issues and OperationOutcomes: how every problem the core finds is described.
//!
//! The core only builds [`Issue`]s; the server decides the status code and renders the
//! OperationOutcome in the negotiated format.

use serde_json::{Map, Value, json};

/// `OperationOutcome.issue.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The operation failed.
    Fatal,
    /// The operation failed or the content is invalid.
    Error,
    /// Worth knowing; the operation went through.
    Warning,
    /// For information only.
    Information,
}

impl Severity {
    /// The FHIR code of the severity.
    pub fn code(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// One `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// How bad it is.
    pub severity: Severity,
    /// The `IssueType` code: `structure`, `invalid`, `value`, `required`, `not-found`,
    /// `conflict`, `not-supported`, `processing`, `exception`, `too-long`, `security` …
    pub code: &'static str,
    /// A human-readable explanation.
    pub diagnostics: String,
    /// Where, as a FHIRPath expression (`Patient.name[0].given[1]`), when it has a place.
    pub expression: Option<String>,
}

impl Issue {
    /// An error issue without a location.
    pub fn error(code: &'static str, diagnostics: impl Into<String>) -> Issue {
        Issue {
            severity: Severity::Error,
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    /// An error issue at a FHIRPath location.
    pub fn at(
        code: &'static str,
        expression: impl Into<String>,
        diagnostics: impl Into<String>,
    ) -> Issue {
        Issue {
            severity: Severity::Error,
            code,
            diagnostics: diagnostics.into(),
            expression: Some(expression.into()),
        }
    }

    /// An informational issue (used for successful outcomes).
    pub fn information(code: &'static str, diagnostics: impl Into<String>) -> Issue {
        Issue {
            severity: Severity::Information,
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }
}

/// Builds an OperationOutcome resource (JSON) from issues.
pub fn operation_outcome(issues: &[Issue]) -> Value {
    let issues: Vec<Value> = issues
        .iter()
        .map(|issue| {
            let mut entry = Map::new();
            entry.insert("severity".into(), json!(issue.severity.code()));
            entry.insert("code".into(), json!(issue.code));
            if !issue.diagnostics.is_empty() {
                entry.insert("diagnostics".into(), json!(issue.diagnostics));
            }
            if let Some(expression) = &issue.expression {
                entry.insert("expression".into(), json!([expression]));
            }
            Value::Object(entry)
        })
        .collect();
    json!({ "resourceType": "OperationOutcome", "issue": issues })
}
