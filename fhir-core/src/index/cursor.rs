//! Keyset cursors of search pages.
//!
//! A cursor is the sort key of the resource it follows (or precedes), with its type and id as
//! the final tie-breakers, so that a page link names a *position in the order*, not an offset:
//! resources created or deleted elsewhere in the order do not shift the page. The cursor is
//! opaque to clients (hex of a small JSON array); a cursor that does not decode, or that was
//! made for another sort, is refused.

use serde_json::{Value, json};

/// One component of a sort key.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum SortValue {
    /// A number (dates as milliseconds, numbers and quantities as values).
    Number(f64),
    /// A string (normalised strings, codes, ids, references).
    Text(String),
    /// The resource has no value for the parameter: sorts last in both directions.
    Missing,
}

/// A position in a search's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// `true`: the page after `key`; `false`: the page before `key`.
    pub forward: bool,
    /// The sort key values, one per `_sort` key.
    pub key: Vec<SortValue>,
    /// The resource type of the resource at the position.
    pub resource_type: String,
    /// Its id.
    pub id: String,
}

impl Cursor {
    /// The opaque text of the cursor.
    pub fn encode(&self) -> String {
        let key: Vec<Value> = self
            .key
            .iter()
            .map(|v| match v {
                SortValue::Number(n) => json!(n),
                SortValue::Text(t) => json!(t),
                SortValue::Missing => Value::Null,
            })
            .collect();
        let text = json!([
            if self.forward { "n" } else { "p" },
            key,
            self.resource_type,
            self.id
        ])
        .to_string();
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads a cursor; `sort_keys` is the number of `_sort` keys of the request.
    pub fn decode(text: &str, sort_keys: usize) -> Option<Cursor> {
        if !text.len().is_multiple_of(2) || text.len() > 8_192 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect();
        let value: Value = serde_json::from_slice(&bytes?).ok()?;
        let parts = value.as_array()?;
        if parts.len() != 4 {
            return None;
        }
        let forward = match parts[0].as_str()? {
            "n" => true,
            "p" => false,
            _ => return None,
        };
        let key: Option<Vec<SortValue>> = parts[1]
            .as_array()?
            .iter()
            .map(|v| match v {
                Value::Null => Some(SortValue::Missing),
                Value::String(s) => Some(SortValue::Text(s.clone())),
                Value::Number(n) => n.as_f64().map(SortValue::Number),
                _ => None,
            })
            .collect();
        let key = key?;
        if key.len() != sort_keys {
            return None;
        }
        Some(Cursor {
            forward,
            key,
            resource_type: parts[2].as_str()?.to_owned(),
            id: parts[3].as_str()?.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let cursor = Cursor {
            forward: false,
            key: vec![
                SortValue::Number(1.5),
                SortValue::Text("smith".into()),
                SortValue::Missing,
            ],
            resource_type: "Patient".into(),
            id: "a-1".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode(), 3), Some(cursor.clone()));
        assert_eq!(Cursor::decode(&cursor.encode(), 2), None);
        for bad in ["", "zz", "abc", "5b5d", &"0".repeat(10_000)] {
            assert_eq!(Cursor::decode(bad, 0), None, "{bad}");
        }
    }
}
