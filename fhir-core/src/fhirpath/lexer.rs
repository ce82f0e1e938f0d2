//! Tokens of a FHIRPath expression.
//!
//! Comments are skipped here. Date/time literals are recognised whole (`@2015-02-04T14:34`),
//! because their `-` and `:` would otherwise read as operators.

use std::sync::OnceLock;

use regex::Regex;

use super::FhirPathError;

/// One token with its byte offset (for error messages).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub offset: usize,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// A number as written (`12`, `1.50`).
    Number(String),
    /// A string literal, unescaped.
    String(String),
    /// A plain identifier (keywords such as `and` are identifiers too).
    Identifier(String),
    /// A `` `delimited` `` identifier: never a keyword.
    Delimited(String),
    /// `%name`, `` %`name` `` or `%'name'`.
    Variable(String),
    /// `$this`, `$index`, `$total`.
    Special(String),
    /// A date/time literal without the `@`.
    DateTime(String),
    /// An operator or punctuation.
    Symbol(&'static str),
    /// The end of the input.
    End,
}

const SYMBOLS: [&str; 22] = [
    "<=", ">=", "!=", "!~", ".", ",", "(", ")", "[", "]", "{", "}", "+", "-", "*", "/", "&", "|",
    "=", "~", "<", ">",
];

fn datetime_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^@(T[0-9]{2}(:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?|[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?(T([0-9]{2}(:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?)",
        )
        .expect("valid regex")
    })
}

/// Splits `src` into tokens, ending with [`TokenKind::End`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, FhirPathError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if src[i..].starts_with("//") {
            i = src[i..].find('\n').map_or(bytes.len(), |n| i + n);
            continue;
        }
        if src[i..].starts_with("/*") {
            let end = src[i + 2..]
                .find("*/")
                .ok_or_else(|| parse_error(i, "unterminated comment"))?;
            i += end + 4;
            continue;
        }
        let kind = if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            // A point starts a fraction only when a digit follows (`1.toString()` is a call).
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            TokenKind::Number(src[start..i].to_string())
        } else if c == b'\'' {
            let (text, end) = quoted(src, i, '\'')?;
            i = end;
            TokenKind::String(text)
        } else if c == b'`' {
            let (text, end) = quoted(src, i, '`')?;
            i = end;
            TokenKind::Delimited(text)
        } else if c == b'%' {
            i += 1;
            match bytes.get(i) {
                Some(b'`') | Some(b'\'') => {
                    let (text, end) = quoted(src, i, bytes[i] as char)?;
                    i = end;
                    TokenKind::Variable(text)
                }
                _ => {
                    let end = identifier_end(bytes, i);
                    if end == i {
                        return Err(parse_error(start, "expected a variable name after %"));
                    }
                    i = end;
                    TokenKind::Variable(src[start + 1..end].to_string())
                }
            }
        } else if c == b'$' {
            let end = identifier_end(bytes, i + 1);
            i = end;
            TokenKind::Special(src[start..end].to_string())
        } else if c == b'@' {
            let found = datetime_regex()
                .find(&src[i..])
                .ok_or_else(|| parse_error(i, "invalid date/time literal"))?;
            i += found.end();
            TokenKind::DateTime(src[start + 1..i].to_string())
        } else if c.is_ascii_alphabetic() || c == b'_' {
            i = identifier_end(bytes, i);
            TokenKind::Identifier(src[start..i].to_string())
        } else if let Some(symbol) = SYMBOLS.iter().find(|s| src[i..].starts_with(**s)) {
            i += symbol.len();
            TokenKind::Symbol(symbol)
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return Err(parse_error(i, &format!("unexpected character {ch:?}")));
        };
        tokens.push(Token {
            kind,
            offset: start,
        });
    }
    tokens.push(Token {
        kind: TokenKind::End,
        offset: src.len(),
    });
    Ok(tokens)
}

fn identifier_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    i
}

fn parse_error(offset: usize, message: &str) -> FhirPathError {
    FhirPathError::Parse(format!("at {offset}: {message}"))
}

/// Reads a quoted string or identifier starting at `start` (the opening quote) and unescapes it;
/// returns the text and the offset after the closing quote.
fn quoted(src: &str, start: usize, quote: char) -> Result<(String, usize), FhirPathError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((at, c)) = chars.next() {
        if c == quote {
            return Ok((out, start + 1 + at + 1));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((_, escaped)) = chars.next() else {
            break;
        };
        match escaped {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'f' => out.push('\u{c}'),
            'u' => {
                let hex: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| parse_error(start, "invalid \\u escape"))?;
                out.push(code);
            }
            other => out.push(other),
        }
    }
    Err(parse_error(start, "unterminated string"))
}
