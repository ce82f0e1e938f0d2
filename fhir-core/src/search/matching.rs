//! Exact matching of search values against extracted values.

/// See [`crate::search::normalize_string`].
pub(crate) fn normalize(text: &str) -> String {
    text.to_lowercase()
}
