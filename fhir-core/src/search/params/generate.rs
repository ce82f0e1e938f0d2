//! Derives the checked-in `search_params.json` from `Bundle-searchParams.json` of the pinned R4
//! package: every SearchParameter, in bundle order, reduced to the fields of [`SearchParam`].

use serde_json::Value;

use super::SearchParam;

/// Reads every SearchParameter of the bundle.
pub fn generate(bundle: &Value) -> Result<Vec<SearchParam>, String> {
    let entries = bundle["entry"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    entries
        .iter()
        .map(|entry| &entry["resource"])
        .filter(|resource| resource["resourceType"] == "SearchParameter")
        .map(SearchParam::from_resource)
        .collect()
}

/// Renders the parameters the way `search_params.json` is checked in: a JSON array with one
/// parameter per line.
pub fn render(params: &[SearchParam]) -> String {
    let mut text = String::from("[\n");
    for (index, param) in params.iter().enumerate() {
        text.push_str(&serde_json::to_string(param).expect("parameters serialise"));
        text.push_str(if index + 1 < params.len() {
            ",\n"
        } else {
            "\n"
        });
    }
    text.push_str("]\n");
    text
}
