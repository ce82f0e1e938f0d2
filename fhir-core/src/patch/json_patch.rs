//! JSON Patch (RFC 6902) over [`serde_json::Value`], with JSON Pointer (RFC 6901).
//!
//! [`apply`] applies a patch document (a JSON array of operations) to a document and returns the
//! patched copy. The operations run in order on a working copy; the first one that fails stops
//! the patch, and the error names it by its index in the array (counting from 0). The caller's
//! document is never changed, so a patch applies entirely or not at all.
//!
//! The six operations of RFC 6902 are supported: `add`, `remove`, `replace`, `move`, `copy` and
//! `test`. Members an operation does not use are ignored (RFC 6902 section 4). Paths are JSON
//! Pointers: `""` is the whole document, `~1` stands for `/` and `~0` for `~`, and `-` names the
//! position after the last element of an array (only `add`, and `move` and `copy` as their target,
//! accept it). An array index is `0` or a decimal number without leading zeros; anything else
//! (`01`, `1e0`, `-1`) is an error on an array, while on an object it is just a member name.
//! `test` compares by value: objects regardless of member order, numbers numerically (`1`,
//! `1.0` and `10e-1` are equal), strings exactly.
//!
//! Removing the whole document (`remove` with path `""`) is an error: a document cannot be absent.
//!
//! # Limits
//!
//! The patch is untrusted input, so its cost is bounded: at most [`MAX_OPERATIONS`] operations,
//! [`MAX_POINTER_DEPTH`] reference tokens per pointer, values placed no deeper than
//! [`MAX_DOCUMENT_DEPTH`] levels (deeper documents could not be read back by `serde_json` and
//! would overflow the stack of recursive code), and at most [`MAX_SCANNED_VALUES`] values walked
//! by `copy` (which could otherwise double the document at every operation) and by `move`s that
//! place a value deeper than it was (whose depth must then be measured).

use serde_json::{Map, Value};
use thiserror::Error;

/// The maximum number of operations in a patch.
pub const MAX_OPERATIONS: usize = 10_000;

/// The maximum number of reference tokens in a JSON Pointer (`/a/b/c` has three).
pub const MAX_POINTER_DEPTH: usize = 100;

/// The maximum nesting depth of a value placed by an operation, counted from the document root:
/// the root is at level 1, its members at level 2, and so on. The same limit as the
/// `serde_json` parser's.
pub const MAX_DOCUMENT_DEPTH: usize = 128;

/// The maximum number of values the `copy` operations of one patch, and the `move` operations
/// that place a value deeper than it was, may walk in total.
pub const MAX_SCANNED_VALUES: usize = 1_000_000;

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatchError {
    /// The patch document is not a JSON array.
    #[error("a JSON Patch document must be an array of operations, not {found}")]
    NotAnArray {
        /// The kind of JSON value found instead (`an object`, `a string`, …).
        found: &'static str,
    },
    /// The patch has more than [`MAX_OPERATIONS`] operations.
    #[error("the patch has {count} operations, more than the limit of {limit}")]
    TooManyOperations {
        /// The number of operations in the patch.
        count: usize,
        /// The limit, [`MAX_OPERATIONS`].
        limit: usize,
    },
    /// An operation is malformed or failed.
    #[error("operation {index} (counting from 0): {error}")]
    Operation {
        /// The index of the operation in the patch array, counting from 0.
        index: usize,
        /// What is wrong with it.
        error: OperationError,
    },
}

impl PatchError {
    /// The index (counting from 0) of the operation that failed, if the error is about one.
    pub fn operation_index(&self) -> Option<usize> {
        match self {
            Self::Operation { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// Whether the error is a `test` operation that did not hold (as opposed to a malformed
    /// patch or a path that cannot be applied).
    pub fn is_test_failure(&self) -> bool {
        matches!(
            self,
            Self::Operation {
                error: OperationError::TestFailed { .. },
                ..
            }
        )
    }
}

/// What is wrong with one operation of a patch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OperationError {
    /// The operation is not a JSON object.
    #[error("an operation must be a JSON object, not {found}")]
    NotAnObject {
        /// The kind of JSON value found instead.
        found: &'static str,
    },
    /// A member the operation needs is missing (`op`, `path`, `value` or `from`).
    #[error("the member `{member}` is missing")]
    MissingMember {
        /// The name of the missing member.
        member: &'static str,
    },
    /// `op`, `path` or `from` is not a string.
    #[error("the member `{member}` must be a string, not {found}")]
    NotAString {
        /// The name of the member.
        member: &'static str,
        /// The kind of JSON value found instead.
        found: &'static str,
    },
    /// `op` is not one of the six operations.
    #[error("unknown op `{op}` (expected add, remove, replace, move, copy or test)")]
    UnknownOp {
        /// The `op` given.
        op: String,
    },
    /// `path` or `from` is not a valid JSON Pointer.
    #[error("`{member}` {pointer:?} is not a valid JSON Pointer: {reason}")]
    InvalidPointer {
        /// `path` or `from`.
        member: &'static str,
        /// The pointer given.
        pointer: String,
        /// Why it is invalid.
        reason: PointerError,
    },
    /// A pointer names a value that does not exist.
    #[error("{pointer:?} does not exist: there is no {missing:?}")]
    NotFound {
        /// The pointer of the operation.
        pointer: String,
        /// Its longest prefix that does not exist (itself, or the first missing ancestor).
        missing: String,
    },
    /// A reference token that addresses an array is not an array index.
    #[error("{pointer:?}: {token:?} is not a valid array index in the array at {array:?}")]
    InvalidIndex {
        /// The pointer of the operation.
        pointer: String,
        /// The pointer of the array.
        array: String,
        /// The token given.
        token: String,
    },
    /// An array index is past the end of the array (`-` counts as one past the end).
    #[error("{pointer:?}: index {token:?} is out of bounds for the array {array:?} of {len} items")]
    IndexOutOfBounds {
        /// The pointer of the operation.
        pointer: String,
        /// The pointer of the array.
        array: String,
        /// The index given.
        token: String,
        /// The length of the array.
        len: usize,
    },
    /// The parent of the target of `add` (or of `move` or `copy`) is neither an object nor an
    /// array.
    #[error("cannot add {pointer:?}: {parent:?} is {found}, not an object or an array")]
    NotAContainer {
        /// The pointer of the operation.
        pointer: String,
        /// The pointer of the parent.
        parent: String,
        /// The kind of JSON value found.
        found: &'static str,
    },
    /// `remove` (or `move`) of the whole document.
    #[error("cannot remove the whole document")]
    RemoveRoot,
    /// `move` of a value into one of its own descendants.
    #[error("cannot move {from:?} into its own descendant {path:?}")]
    MoveIntoDescendant {
        /// The `from` pointer.
        from: String,
        /// The `path` pointer.
        path: String,
    },
    /// A `test` operation did not hold.
    #[error("test failed: the value at {pointer:?} is not equal to the expected value")]
    TestFailed {
        /// The pointer tested.
        pointer: String,
    },
    /// The value placed would nest deeper than [`MAX_DOCUMENT_DEPTH`].
    #[error("the value placed at {pointer:?} would nest deeper than {limit} levels")]
    TooDeep {
        /// The pointer of the operation.
        pointer: String,
        /// The limit, [`MAX_DOCUMENT_DEPTH`].
        limit: usize,
    },
    /// The patch would walk more than [`MAX_SCANNED_VALUES`] values in `copy` and deepening
    /// `move` operations.
    #[error(
        "the patch copies or moves too much: its copy and move operations would walk more than \
         {limit} values"
    )]
    TooMuchWork {
        /// The limit, [`MAX_SCANNED_VALUES`].
        limit: usize,
    },
}

/// Why a string is not a valid JSON Pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PointerError {
    /// A non-empty pointer must start with `/`.
    #[error("a non-empty pointer must start with `/`")]
    NoLeadingSlash,
    /// `~` must be followed by `0` or `1`.
    #[error("`~` must be followed by `0` or `1`")]
    InvalidEscape,
    /// The pointer has more than [`MAX_POINTER_DEPTH`] reference tokens.
    #[error("it has more than {limit} reference tokens")]
    TooDeep {
        /// The limit, [`MAX_POINTER_DEPTH`].
        limit: usize,
    },
}

/// Applies the JSON Patch `patch` (an array of operations) to `document` and returns the patched
/// document. On error `document` is unchanged (it is only read) and nothing of the patch applies.
pub fn apply(document: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(operations) = patch else {
        return Err(PatchError::NotAnArray { found: kind(patch) });
    };
    if operations.len() > MAX_OPERATIONS {
        return Err(PatchError::TooManyOperations {
            count: operations.len(),
            limit: MAX_OPERATIONS,
        });
    }
    // Every operation is checked before any runs, so a malformed patch is reported as such even
    // when an earlier operation would fail on this document.
    let parsed = operations
        .iter()
        .enumerate()
        .map(|(index, op)| {
            Operation::parse(op).map_err(|error| PatchError::Operation { index, error })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut working = document.clone();
    let mut budget = MAX_SCANNED_VALUES;
    for (index, op) in parsed.iter().enumerate() {
        op.run(&mut working, &mut budget)
            .map_err(|error| PatchError::Operation { index, error })?;
    }
    Ok(working)
}

/// A parsed JSON Pointer.
#[derive(Debug, PartialEq)]
struct Pointer<'a> {
    /// The pointer as given.
    text: &'a str,
    /// The unescaped reference tokens.
    tokens: Vec<String>,
}

impl<'a> Pointer<'a> {
    fn parse(member: &'static str, text: &'a str) -> Result<Self, OperationError> {
        let invalid = |reason| OperationError::InvalidPointer {
            member,
            pointer: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Ok(Self {
                text,
                tokens: Vec::new(),
            });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(invalid(PointerError::NoLeadingSlash));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            if tokens.len() == MAX_POINTER_DEPTH {
                return Err(invalid(PointerError::TooDeep {
                    limit: MAX_POINTER_DEPTH,
                }));
            }
            tokens.push(unescape(raw).ok_or_else(|| invalid(PointerError::InvalidEscape))?);
        }
        Ok(Self { text, tokens })
    }

    /// The pointer made of the first `n` tokens.
    fn prefix(&self, n: usize) -> String {
        let mut out = String::new();
        for token in &self.tokens[..n] {
            out.push('/');
            out.push_str(&token.replace('~', "~0").replace('/', "~1"));
        }
        out
    }

    fn not_found(&self, n: usize) -> OperationError {
        OperationError::NotFound {
            pointer: self.text.to_owned(),
            missing: self.prefix(n),
        }
    }
}

/// Unescapes a reference token (`~1` to `/`, then `~0` to `~`); `None` for another `~`.
fn unescape(raw: &str) -> Option<String> {
    if !raw.contains('~') {
        return Some(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// One parsed operation; values borrow from the patch.
#[derive(Debug)]
enum Operation<'a> {
    Add {
        path: Pointer<'a>,
        value: &'a Value,
    },
    Remove {
        path: Pointer<'a>,
    },
    Replace {
        path: Pointer<'a>,
        value: &'a Value,
    },
    Move {
        from: Pointer<'a>,
        path: Pointer<'a>,
    },
    Copy {
        from: Pointer<'a>,
        path: Pointer<'a>,
    },
    Test {
        path: Pointer<'a>,
        value: &'a Value,
    },
}

impl<'a> Operation<'a> {
    fn parse(op: &'a Value) -> Result<Self, OperationError> {
        let Value::Object(members) = op else {
            return Err(OperationError::NotAnObject { found: kind(op) });
        };
        let name = string_member(members, "op")?;
        let path = || Pointer::parse("path", string_member(members, "path")?);
        let from = || Pointer::parse("from", string_member(members, "from")?);
        let value = || {
            members
                .get("value")
                .ok_or(OperationError::MissingMember { member: "value" })
        };
        Ok(match name {
            "add" => Self::Add {
                path: path()?,
                value: value()?,
            },
            "remove" => Self::Remove { path: path()? },
            "replace" => Self::Replace {
                path: path()?,
                value: value()?,
            },
            "move" => Self::Move {
                path: path()?,
                from: from()?,
            },
            "copy" => Self::Copy {
                path: path()?,
                from: from()?,
            },
            "test" => Self::Test {
                path: path()?,
                value: value()?,
            },
            other => {
                return Err(OperationError::UnknownOp {
                    op: other.to_owned(),
                });
            }
        })
    }

    fn run(&self, doc: &mut Value, budget: &mut usize) -> Result<(), OperationError> {
        match self {
            Self::Add { path, value } => {
                check_depth(path, value, None)?;
                add(doc, path, (*value).clone())
            }
            Self::Remove { path } => remove(doc, path).map(drop),
            Self::Replace { path, value } => {
                check_depth(path, value, None)?;
                *get_mut(doc, path)? = (*value).clone();
                Ok(())
            }
            Self::Move { from, path } => {
                if from.tokens == path.tokens {
                    // Moving a value onto itself changes nothing, but it must exist.
                    return get(doc, from).map(drop);
                }
                if path.tokens.starts_with(&from.tokens) {
                    return Err(OperationError::MoveIntoDescendant {
                        from: from.text.to_owned(),
                        path: path.text.to_owned(),
                    });
                }
                if path.tokens.len() > from.tokens.len() {
                    // The value goes deeper: measure it first.
                    check_depth(path, get(doc, from)?, Some(budget))?;
                }
                let value = remove(doc, from)?;
                add(doc, path, value)
            }
            Self::Copy { from, path } => {
                let value = get(doc, from)?;
                check_depth(path, value, Some(budget))?;
                let value = value.clone();
                add(doc, path, value)
            }
            Self::Test { path, value } => {
                if json_equal(get(doc, path)?, value) {
                    Ok(())
                } else {
                    Err(OperationError::TestFailed {
                        pointer: path.text.to_owned(),
                    })
                }
            }
        }
    }
}

fn string_member<'a>(
    members: &'a Map<String, Value>,
    member: &'static str,
) -> Result<&'a str, OperationError> {
    match members.get(member) {
        None => Err(OperationError::MissingMember { member }),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(OperationError::NotAString {
            member,
            found: kind(other),
        }),
    }
}

/// The kind of a JSON value, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where a token that addresses an array points.
enum Index {
    /// An element position (which may equal the length).
    At(usize),
    /// `-`: after the last element.
    End,
}

/// Parses an array index: `-`, `0`, or digits without a leading zero.
fn parse_index(token: &str) -> Option<Index> {
    if token == "-" {
        return Some(Index::End);
    }
    let bytes = token.as_bytes();
    if bytes.is_empty()
        || !bytes.iter().all(u8::is_ascii_digit)
        || (bytes[0] == b'0' && bytes.len() > 1)
    {
        return None;
    }
    // All digits: only an overflow fails, and such an index is out of bounds anyway.
    Some(Index::At(token.parse().unwrap_or(usize::MAX)))
}

/// The position in `array` (of the pointer's first `n` tokens) that token `n` names; with
/// `insert`, the length itself (and `-`) are allowed.
fn array_position(
    pointer: &Pointer,
    n: usize,
    len: usize,
    insert: bool,
) -> Result<usize, OperationError> {
    let token = &pointer.tokens[n];
    let position = match parse_index(token) {
        None => {
            return Err(OperationError::InvalidIndex {
                pointer: pointer.text.to_owned(),
                array: pointer.prefix(n),
                token: token.clone(),
            });
        }
        Some(Index::End) => len,
        Some(Index::At(i)) => i,
    };
    if position < len || (insert && position == len) {
        Ok(position)
    } else {
        Err(OperationError::IndexOutOfBounds {
            pointer: pointer.text.to_owned(),
            array: pointer.prefix(n),
            token: token.clone(),
            len,
        })
    }
}

/// The child of `value` that token `n` of `pointer` names.
fn child<'v>(value: &'v Value, pointer: &Pointer, n: usize) -> Result<&'v Value, OperationError> {
    match value {
        Value::Object(members) => members
            .get(&pointer.tokens[n])
            .ok_or_else(|| pointer.not_found(n + 1)),
        Value::Array(items) => Ok(&items[array_position(pointer, n, items.len(), false)?]),
        _ => Err(pointer.not_found(n + 1)),
    }
}

fn child_mut<'v>(
    value: &'v mut Value,
    pointer: &Pointer,
    n: usize,
) -> Result<&'v mut Value, OperationError> {
    match value {
        Value::Object(members) => members
            .get_mut(&pointer.tokens[n])
            .ok_or_else(|| pointer.not_found(n + 1)),
        Value::Array(items) => {
            let position = array_position(pointer, n, items.len(), false)?;
            Ok(&mut items[position])
        }
        _ => Err(pointer.not_found(n + 1)),
    }
}

/// The value at `pointer`.
fn get<'v>(doc: &'v Value, pointer: &Pointer) -> Result<&'v Value, OperationError> {
    let mut current = doc;
    for n in 0..pointer.tokens.len() {
        current = child(current, pointer, n)?;
    }
    Ok(current)
}

/// The value at the first `depth` tokens of `pointer`.
fn get_mut_prefix<'v>(
    doc: &'v mut Value,
    pointer: &Pointer,
    depth: usize,
) -> Result<&'v mut Value, OperationError> {
    let mut current = doc;
    for n in 0..depth {
        current = child_mut(current, pointer, n)?;
    }
    Ok(current)
}

fn get_mut<'v>(doc: &'v mut Value, pointer: &Pointer) -> Result<&'v mut Value, OperationError> {
    get_mut_prefix(doc, pointer, pointer.tokens.len())
}

/// RFC 6902 section 4.1: replaces the member or the whole document, inserts into an array.
fn add(doc: &mut Value, pointer: &Pointer, value: Value) -> Result<(), OperationError> {
    let Some((last, _)) = pointer.tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    let n = pointer.tokens.len() - 1;
    let parent = get_mut_prefix(doc, pointer, n)?;
    match parent {
        Value::Object(members) => {
            // With `preserve_order`, an existing member keeps its place.
            members.insert(last.clone(), value);
        }
        Value::Array(items) => {
            let position = array_position(pointer, n, items.len(), true)?;
            items.insert(position, value);
        }
        other => {
            return Err(OperationError::NotAContainer {
                pointer: pointer.text.to_owned(),
                parent: pointer.prefix(n),
                found: kind(other),
            });
        }
    }
    Ok(())
}

/// RFC 6902 section 4.2: removes and returns the value at `pointer`.
fn remove(doc: &mut Value, pointer: &Pointer) -> Result<Value, OperationError> {
    let Some((last, _)) = pointer.tokens.split_last() else {
        return Err(OperationError::RemoveRoot);
    };
    let n = pointer.tokens.len() - 1;
    match get_mut_prefix(doc, pointer, n)? {
        // `shift_remove` keeps the order of the other members.
        Value::Object(members) => members
            .shift_remove(last)
            .ok_or_else(|| pointer.not_found(n + 1)),
        Value::Array(items) => {
            let position = array_position(pointer, n, items.len(), false)?;
            Ok(items.remove(position))
        }
        _ => Err(pointer.not_found(n + 1)),
    }
}

/// Checks that `value` placed at `pointer` nests no deeper than [`MAX_DOCUMENT_DEPTH`]; with a
/// budget, every value walked is taken from it.
fn check_depth(
    pointer: &Pointer,
    value: &Value,
    budget: Option<&mut usize>,
) -> Result<(), OperationError> {
    let too_deep = || OperationError::TooDeep {
        pointer: pointer.text.to_owned(),
        limit: MAX_DOCUMENT_DEPTH,
    };
    // The root is at level 1, so a value at a pointer of n tokens is at level n + 1.
    let Some(room) = MAX_DOCUMENT_DEPTH.checked_sub(pointer.tokens.len()) else {
        return Err(too_deep());
    };
    let mut remaining = budget.as_deref().copied().unwrap_or(usize::MAX);
    let mut stack = vec![(value, 1usize)];
    while let Some((value, level)) = stack.pop() {
        if level > room {
            return Err(too_deep());
        }
        remaining = remaining
            .checked_sub(1)
            .ok_or(OperationError::TooMuchWork {
                limit: MAX_SCANNED_VALUES,
            })?;
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|item| (item, level + 1))),
            Value::Object(members) => stack.extend(members.values().map(|item| (item, level + 1))),
            _ => {}
        }
    }
    if let Some(budget) = budget {
        *budget = remaining;
    }
    Ok(())
}

/// Equality as RFC 6902 section 4.6 defines it for `test`: objects without regard to member
/// order, numbers by value. Iterative, so deep values cannot overflow the stack.
fn json_equal(a: &Value, b: &Value) -> bool {
    let mut stack = vec![(a, b)];
    while let Some(pair) = stack.pop() {
        match pair {
            (Value::Null, Value::Null) => {}
            (Value::Bool(x), Value::Bool(y)) if x == y => {}
            (Value::String(x), Value::String(y)) if x == y => {}
            (Value::Number(x), Value::Number(y))
                if numbers_equal(&x.to_string(), &y.to_string()) => {}
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                stack.extend(x.iter().zip(y))
            }
            (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                for (key, value) in x {
                    let Some(other) = y.get(key) else {
                        return false;
                    };
                    stack.push((value, other));
                }
            }
            _ => return false,
        }
    }
    true
}

/// Whether two JSON number literals have the same value (`1`, `1.0`, `10e-1`, `-0` and `0`).
fn numbers_equal(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (normalize_number(a), normalize_number(b)) {
        (Some(x), Some(y)) => x == y,
        // An exponent too large for i64: compare the literals (already unequal).
        _ => false,
    }
}

/// A JSON number literal as (negative, significant digits without leading or trailing zeros,
/// exponent of the last digit); zero is `(false, "", 0)`.
fn normalize_number(literal: &str) -> Option<(bool, String, i64)> {
    let (negative, unsigned) = match literal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = integer.chars().chain(fraction.chars()).collect();
    let mut exponent = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Some((false, String::new(), 0));
    }
    let trimmed = significant.trim_end_matches('0');
    exponent = exponent.checked_add(i64::try_from(significant.len() - trimmed.len()).ok()?)?;
    Some((negative, trimmed.to_owned(), exponent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op_error(result: Result<Value, PatchError>) -> (usize, OperationError) {
        match result {
            Err(PatchError::Operation { index, error }) => (index, error),
            other => panic!("expected an operation error, got {other:?}"),
        }
    }

    #[test]
    fn patch_is_atomic() {
        let doc = json!({"a": [1, 2], "b": {"c": "d"}});
        let before = doc.clone();
        let patch = json!([
            {"op": "add", "path": "/a/-", "value": 3},
            {"op": "remove", "path": "/b/c"},
            {"op": "replace", "path": "/a/0", "value": "x"},
            {"op": "test", "path": "/a/0", "value": "y"}
        ]);
        let (index, error) = op_error(apply(&doc, &patch));
        assert_eq!(index, 3);
        assert!(matches!(error, OperationError::TestFailed { .. }));
        assert_eq!(doc, before);
        // Without the failing test the same operations apply.
        let ok = apply(&doc, &Value::Array(patch.as_array().unwrap()[..3].to_vec())).unwrap();
        assert_eq!(ok, json!({"a": ["x", 2, 3], "b": {}}));
    }

    #[test]
    fn malformed_operation_reported_before_any_runs() {
        let doc = json!({});
        let patch = json!([
            {"op": "remove", "path": "/missing"},
            {"op": "add", "path": "/x"}
        ]);
        let (index, error) = op_error(apply(&doc, &patch));
        assert_eq!(index, 1);
        assert_eq!(error, OperationError::MissingMember { member: "value" });
    }

    #[test]
    fn error_messages_name_the_operation() {
        let err = apply(
            &json!({"a": 1}),
            &json!([{"op": "add", "path": "/a/b/c", "value": 1}]),
        )
        .unwrap_err();
        assert_eq!(err.operation_index(), Some(0));
        assert_eq!(
            err.to_string(),
            "operation 0 (counting from 0): \"/a/b/c\" does not exist: there is no \"/a/b\""
        );
        let err = apply(&json!({}), &json!({"op": "add"})).unwrap_err();
        assert_eq!(err, PatchError::NotAnArray { found: "an object" });
        let err = apply(&json!([1]), &json!([{"op": "remove", "path": "/01"}])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "operation 0 (counting from 0): \"/01\": \"01\" is not a valid array index in the array at \"\""
        );
    }

    #[test]
    fn operation_limit() {
        let doc = json!({"a": 1});
        let test = json!({"op": "test", "path": "/a", "value": 1});
        let patch = Value::Array(vec![test.clone(); MAX_OPERATIONS]);
        assert_eq!(apply(&doc, &patch).unwrap(), doc);
        let patch = Value::Array(vec![test; MAX_OPERATIONS + 1]);
        assert_eq!(
            apply(&doc, &patch).unwrap_err(),
            PatchError::TooManyOperations {
                count: MAX_OPERATIONS + 1,
                limit: MAX_OPERATIONS
            }
        );
    }

    #[test]
    fn pointer_depth_limit() {
        let ok = "/a".repeat(MAX_POINTER_DEPTH);
        let too_deep = "/a".repeat(MAX_POINTER_DEPTH + 1);
        let (_, error) = op_error(apply(&json!({}), &json!([{"op": "remove", "path": ok}])));
        assert!(matches!(error, OperationError::NotFound { .. }));
        let (_, error) = op_error(apply(
            &json!({}),
            &json!([{"op": "remove", "path": too_deep}]),
        ));
        assert!(matches!(
            error,
            OperationError::InvalidPointer {
                reason: PointerError::TooDeep { .. },
                ..
            }
        ));
    }

    #[test]
    fn document_depth_limit() {
        // Moving a value into a child of its former sibling, over and over, nests it deeper.
        let mut ops = Vec::new();
        for _ in 0..200 {
            ops.push(json!({"op": "add", "path": "/b", "value": {}}));
            ops.push(json!({"op": "move", "from": "/a", "path": "/b/a"}));
            ops.push(json!({"op": "move", "from": "/b", "path": "/a"}));
        }
        let (index, error) = op_error(apply(&json!({"a": 1}), &Value::Array(ops)));
        assert!(matches!(error, OperationError::TooDeep { .. }), "{error:?}");
        // The value would reach level 129 at the 127th round's first move.
        assert_eq!(index, 3 * 126 + 1);
        // Adding a deep value at depth.
        let mut deep = json!(1);
        for _ in 0..MAX_DOCUMENT_DEPTH - 1 {
            deep = json!([deep]);
        }
        assert!(
            apply(
                &json!(null),
                &json!([{"op": "add", "path": "", "value": deep}])
            )
            .is_ok()
        );
        let (_, error) = op_error(apply(
            &json!({}),
            &json!([{"op": "add", "path": "/x", "value": deep}]),
        ));
        assert!(matches!(error, OperationError::TooDeep { .. }));
    }

    #[test]
    fn copy_budget() {
        // Copying the document into itself doubles it every time.
        let ops: Vec<Value> = (0..40)
            .map(|i| json!({"op": "copy", "from": "", "path": format!("/{i}")}))
            .collect();
        let (index, error) = op_error(apply(&json!({"x": 1}), &Value::Array(ops)));
        assert_eq!(
            error,
            OperationError::TooMuchWork {
                limit: MAX_SCANNED_VALUES
            }
        );
        // Copy i walks 2^(i+1) values: 2^20 - 2 > 1,000,000 in total at copy 18.
        assert_eq!(index, 18);
    }

    #[test]
    fn move_rules() {
        let doc = json!({"a": {"b": 1}, "c": [1, 2, 3]});
        let (_, error) = op_error(apply(
            &doc,
            &json!([{"op": "move", "from": "/a", "path": "/a/b"}]),
        ));
        assert!(matches!(error, OperationError::MoveIntoDescendant { .. }));
        // A prefix of the text that is not a prefix of the tokens is allowed.
        let doc2 = json!({"a": 1, "ab": {}});
        assert_eq!(
            apply(
                &doc2,
                &json!([{"op": "move", "from": "/a", "path": "/ab/x"}])
            )
            .unwrap(),
            json!({"ab": {"x": 1}})
        );
        assert_eq!(
            apply(
                &doc,
                &json!([{"op": "move", "from": "/c/0", "path": "/c/-"}])
            )
            .unwrap(),
            json!({"a": {"b": 1}, "c": [2, 3, 1]})
        );
        let (_, error) = op_error(apply(
            &doc,
            &json!([{"op": "move", "from": "/x", "path": "/x"}]),
        ));
        assert!(matches!(error, OperationError::NotFound { .. }));
        let (_, error) = op_error(apply(&doc, &json!([{"op": "remove", "path": ""}])));
        assert_eq!(error, OperationError::RemoveRoot);
    }

    #[test]
    fn member_order_preserved() {
        let doc = json!({"a": 1, "b": 2, "c": 3});
        let out = apply(
            &doc,
            &json!([{"op": "remove", "path": "/a"}, {"op": "add", "path": "/b", "value": 5}]),
        )
        .unwrap();
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["b", "c"]);
        assert_eq!(out, json!({"b": 5, "c": 3}));
    }

    #[test]
    fn pointers() {
        let doc = json!({"a/b": {"m~n": [0, 1]}, "": {"": 2}});
        assert!(
            apply(
                &doc,
                &json!([{"op": "test", "path": "/a~1b/m~0n/1", "value": 1}])
            )
            .is_ok()
        );
        assert!(apply(&doc, &json!([{"op": "test", "path": "//", "value": 2}])).is_ok());
        for (path, reason) in [
            ("a", PointerError::NoLeadingSlash),
            ("/a~2", PointerError::InvalidEscape),
            ("/~", PointerError::InvalidEscape),
        ] {
            let (_, error) = op_error(apply(&doc, &json!([{"op": "remove", "path": path}])));
            assert!(
                matches!(error, OperationError::InvalidPointer { reason: r, .. } if r == reason),
                "{path}"
            );
        }
        for path in [
            "/a~1b/m~0n/-",
            "/a~1b/m~0n/2",
            "/a~1b/m~0n/18446744073709551616",
        ] {
            let (_, error) = op_error(apply(&doc, &json!([{"op": "remove", "path": path}])));
            assert!(
                matches!(error, OperationError::IndexOutOfBounds { .. }),
                "{path}"
            );
        }
        for path in [
            "/a~1b/m~0n/01",
            "/a~1b/m~0n/+1",
            "/a~1b/m~0n/ 1",
            "/a~1b/m~0n/",
        ] {
            let (_, error) = op_error(apply(&doc, &json!([{"op": "remove", "path": path}])));
            assert!(
                matches!(error, OperationError::InvalidIndex { .. }),
                "{path}"
            );
        }
    }

    #[test]
    fn numeric_equality() {
        let equal = [
            ("1", "1.0"),
            ("1", "10e-1"),
            ("0", "-0.0"),
            ("100", "1E2"),
            ("-1.50", "-15e-1"),
        ];
        for (a, b) in equal {
            assert!(numbers_equal(a, b), "{a} {b}");
        }
        for (a, b) in [
            ("1", "-1"),
            ("1", "1.0000001"),
            ("10", "1"),
            ("1e9999999999999999999", "1"),
        ] {
            assert!(!numbers_equal(a, b), "{a} {b}");
        }
        let doc: Value = serde_json::from_str(r#"{"a": 1.0, "b": [1, "1"]}"#).unwrap();
        let patch: Value = serde_json::from_str(
            r#"[{"op": "test", "path": "", "value": {"b": [1.00, "1"], "a": 1}}]"#,
        )
        .unwrap();
        assert!(apply(&doc, &patch).is_ok());
        let patch = json!([{"op": "test", "path": "/b/1", "value": 1}]);
        assert!(apply(&doc, &patch).unwrap_err().is_test_failure());
    }
}
