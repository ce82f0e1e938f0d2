//! String functions.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

use super::arg;
use crate::fhirpath::ast::Expr;
use crate::fhirpath::eval::{Collection, Result, Scope, error, singleton};
use crate::fhirpath::item::Item;

/// The single string of a collection (`None` when empty); an error for other types.
fn text(items: &[Item<'_>], what: &str) -> Result<Option<String>> {
    match singleton(items)?.map(Item::primitive) {
        None => Ok(None),
        Some(Item::String(s)) => Ok(Some(s)),
        Some(other) => error(format!(
            "{what} needs a string, found {}",
            other.type_name()
        )),
    }
}

/// Compiled patterns, shared by all evaluations: invariants and search filters apply the same
/// few literal patterns to many values. Cleared when full, so hostile input cannot grow it.
fn regex_cache() -> &'static Mutex<HashMap<String, Regex>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

const REGEX_CACHE_SIZE: usize = 256;

fn regex(pattern: &str, whole: bool) -> Result<Regex> {
    // `(?s)`: FHIRPath regular expressions let `.` match newlines.
    let source = if whole {
        format!("(?s)^(?:{pattern})$")
    } else {
        format!("(?s){pattern}")
    };
    let mut cache = regex_cache()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(compiled) = cache.get(&source) {
        return Ok(compiled.clone());
    }
    let compiled =
        Regex::new(&source).or_else(|e| error(format!("invalid regular expression: {e}")))?;
    if cache.len() >= REGEX_CACHE_SIZE {
        cache.clear();
    }
    cache.insert(source, compiled.clone());
    Ok(compiled)
}

pub(crate) fn call<'a>(
    name: &str,
    input: &[Item<'a>],
    args: &[Expr],
    focus: &[Item<'a>],
    scope: &Scope<'a>,
) -> Result<Option<Collection<'a>>> {
    const NAMES: [&str; 22] = [
        "indexOf",
        "substring",
        "startsWith",
        "endsWith",
        "contains",
        "upper",
        "lower",
        "replace",
        "matches",
        "matchesFull",
        "replaceMatches",
        "length",
        "toChars",
        "trim",
        "split",
        "join",
        "encode",
        "decode",
        "escape",
        "unescape",
        "lastIndexOf",
        "concat",
    ];
    if !NAMES.contains(&name) {
        return Ok(None);
    }
    if name == "join" {
        let separator = match args.first() {
            Some(_) => text(&arg(args, 0, focus, scope)?, name)?.unwrap_or_default(),
            None => String::new(),
        };
        let mut parts = Vec::new();
        for item in input {
            parts.push(text(std::slice::from_ref(item), name)?.unwrap_or_default());
        }
        return Ok(Some(vec![Item::String(parts.join(&separator))]));
    }
    let Some(s) = text(input, name)? else {
        return Ok(Some(vec![]));
    };
    let mut string_args = Vec::new();
    for i in 0..args.len() {
        let value = arg(args, i, focus, scope)?;
        string_args.push(value);
    }
    let sarg = |i: usize| -> Result<Option<String>> { text(&string_args[i], name) };
    let iarg = |i: usize| -> Result<Option<i64>> {
        match singleton(&string_args[i])?.map(Item::primitive) {
            None => Ok(None),
            Some(Item::Integer(n)) => Ok(Some(n)),
            Some(_) => error(format!("{name}() needs an integer")),
        }
    };
    let need = |n: usize| {
        if string_args.len() < n {
            error(format!("{name}() needs {n} arguments"))
        } else {
            Ok(())
        }
    };
    let chars: Vec<char> = s.chars().collect();
    let string = |v: String| vec![Item::String(v)];
    let result = match name {
        "indexOf" | "lastIndexOf" => {
            need(1)?;
            let Some(needle) = sarg(0)? else {
                return Ok(Some(vec![]));
            };
            let found = if name == "indexOf" {
                s.find(&needle)
            } else {
                s.rfind(&needle)
            };
            vec![Item::Integer(
                found.map_or(-1, |at| s[..at].chars().count() as i64),
            )]
        }
        "substring" => {
            need(1)?;
            let Some(start) = iarg(0)? else {
                return Ok(Some(vec![]));
            };
            if start < 0 || start as usize >= chars.len() {
                return Ok(Some(vec![]));
            }
            let length = if string_args.len() > 1 {
                match iarg(1)? {
                    Some(l) => l.max(0) as usize,
                    None => chars.len(),
                }
            } else {
                chars.len()
            };
            string(chars[start as usize..].iter().take(length).collect())
        }
        "startsWith" | "endsWith" | "contains" => {
            need(1)?;
            let Some(needle) = sarg(0)? else {
                return Ok(Some(vec![]));
            };
            vec![Item::Boolean(match name {
                "startsWith" => s.starts_with(&needle),
                "endsWith" => s.ends_with(&needle),
                _ => s.contains(&needle),
            })]
        }
        "upper" => string(s.to_uppercase()),
        "lower" => string(s.to_lowercase()),
        "replace" => {
            need(2)?;
            let (Some(pattern), Some(substitution)) = (sarg(0)?, sarg(1)?) else {
                return Ok(Some(vec![]));
            };
            if pattern.is_empty() {
                // Every gap between characters gets the substitution.
                let mut out = substitution.clone();
                for c in &chars {
                    out.push(*c);
                    out.push_str(&substitution);
                }
                string(out)
            } else {
                string(s.replace(&pattern, &substitution))
            }
        }
        "matches" | "matchesFull" => {
            need(1)?;
            let Some(pattern) = sarg(0)? else {
                return Ok(Some(vec![]));
            };
            vec![Item::Boolean(
                regex(&pattern, name == "matchesFull")?.is_match(&s),
            )]
        }
        "replaceMatches" => {
            need(2)?;
            let (Some(pattern), Some(substitution)) = (sarg(0)?, sarg(1)?) else {
                return Ok(Some(vec![]));
            };
            if pattern.is_empty() {
                string(s)
            } else {
                // `$1` style group references, as in the spec's examples.
                string(
                    regex(&pattern, false)?
                        .replace_all(&s, substitution.as_str())
                        .into_owned(),
                )
            }
        }
        "length" => vec![Item::Integer(chars.len() as i64)],
        "toChars" => chars.iter().map(|c| Item::String(c.to_string())).collect(),
        "trim" => string(s.trim().to_string()),
        "split" => {
            need(1)?;
            let Some(separator) = sarg(0)? else {
                return Ok(Some(vec![]));
            };
            s.split(separator.as_str())
                .map(|p| Item::String(p.to_string()))
                .collect()
        }
        "concat" => string(s),
        "encode" | "decode" => {
            need(1)?;
            let Some(format) = sarg(0)? else {
                return Ok(Some(vec![]));
            };
            let converted = match (name, format.as_str()) {
                ("encode", "hex") => Some(s.bytes().map(|b| format!("{b:02x}")).collect()),
                ("decode", "hex") => decode_hex(&s),
                ("encode", "base64") => Some(base64_encode(s.as_bytes(), false)),
                ("encode", "urlbase64") => Some(base64_encode(s.as_bytes(), true)),
                ("decode", "base64" | "urlbase64") => base64_decode(&s),
                _ => None,
            };
            converted.map(string).unwrap_or_default()
        }
        "escape" | "unescape" => {
            need(1)?;
            let Some(target) = sarg(0)? else {
                return Ok(Some(vec![]));
            };
            string(escape(&s, &target, name == "escape"))
        }
        _ => return Ok(None),
    };
    Ok(Some(result))
}

fn decode_hex(s: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8], url: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                let c = BASE64[(n >> (18 - 6 * i) & 63) as usize] as char;
                out.push(match (url, c) {
                    (true, '+') => '-',
                    (true, '/') => '_',
                    _ => c,
                });
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in s.chars() {
        let v = match c {
            '=' => break,
            '-' => 62,
            '_' => 63,
            _ => BASE64.iter().position(|b| *b as char == c)? as u32,
        };
        bits = bits << 6 | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count & 0xff) as u8);
        }
    }
    String::from_utf8(out).ok()
}

fn escape(s: &str, target: &str, escape: bool) -> String {
    let pairs: &[(&str, &str)] = match target {
        "html" => &[
            ("&", "&amp;"),
            ("<", "&lt;"),
            (">", "&gt;"),
            ("\"", "&quot;"),
            ("'", "&#39;"),
        ],
        "json" => &[
            ("\\", "\\\\"),
            ("\"", "\\\""),
            ("\n", "\\n"),
            ("\t", "\\t"),
            ("\r", "\\r"),
        ],
        _ => &[],
    };
    let mut out = s.to_string();
    if escape {
        for (from, to) in pairs {
            out = out.replace(from, to);
        }
    } else {
        for (from, to) in pairs.iter().rev() {
            out = out.replace(to, from);
        }
    }
    out
}
