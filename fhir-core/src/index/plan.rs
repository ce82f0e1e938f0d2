//! Translation of a direct condition into a tantivy query that selects a superset of the
//! matching resources, and whether the superset is exact.
//!
//! Exact translations: token codes and systems, `:not`, strings (prefix, `:exact`,
//! `:contains`), references, uris (`=` and `:below`), `:missing`, `_text`, `_content`.
//! Narrowing only (candidates are then checked against the resource by
//! [`crate::search::matching::matches`]): dates (a multi-valued parameter may pair the start of
//! one value with the end of another), numbers, quantities, composites, `near`, `:text`,
//! `:of-type`, uri `:above`.

use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, Query, RangeQuery, RegexQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TokenStream;

use super::Fields;
use super::terms::{self, marker, sortable_i64};
use crate::search::normalize_string;
use crate::search::query::{Modifier, Prefix, SearchValue};

/// A condition's query and whether it is exact.
pub(crate) struct Translated {
    pub query: Box<dyn Query>,
    pub exact: bool,
}

impl std::fmt::Debug for Translated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Translated({:?}, exact: {})", self.query, self.exact)
    }
}

pub(crate) fn term_query(field: tantivy::schema::Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::Basic,
    ))
}

fn prefix_query(field: tantivy::schema::Field, prefix: &str) -> Box<dyn Query> {
    let upper = format!("{prefix}\u{10FFFF}");
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_text(field, prefix)),
        Bound::Included(Term::from_field_text(field, &upper)),
    ))
}

fn range(
    fields: &Fields,
    code: &str,
    marker: &str,
    lower: Bound<i64>,
    upper: Bound<i64>,
) -> Box<dyn Query> {
    let t =
        |v: i64| Term::from_field_text(fields.terms, &terms::term(code, marker, &sortable_i64(v)));
    let lower = match lower {
        Bound::Included(v) => Bound::Included(t(v)),
        Bound::Excluded(v) => Bound::Excluded(t(v)),
        Bound::Unbounded => Bound::Included(Term::from_field_text(
            fields.terms,
            &terms::term(code, marker, ""),
        )),
    };
    let upper = match upper {
        Bound::Included(v) => Bound::Included(t(v)),
        Bound::Excluded(v) => Bound::Excluded(t(v)),
        Bound::Unbounded => Bound::Included(Term::from_field_text(
            fields.terms,
            &terms::term(code, marker, "g"),
        )),
    };
    Box::new(RangeQuery::new(lower, upper))
}

fn and(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(
        queries.into_iter().map(|q| (Occur::Must, q)).collect(),
    ))
}

fn or(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if queries.is_empty() {
        return Box::new(EmptyQuery);
    }
    Box::new(BooleanQuery::new(
        queries.into_iter().map(|q| (Occur::Should, q)).collect(),
    ))
}

fn not(query: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(vec![
        (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
        (Occur::MustNot, query),
    ]))
}

/// Translates a direct condition (`code[:modifier]=v1,v2`). `single_date`: the parameter is a
/// date with at most one value per resource of the types searched
/// ([`crate::search::extract::Extractor::single_date`]), so date comparisons are exact.
pub(crate) fn direct(
    fields: &Fields,
    tokenizers: &tantivy::tokenizer::TokenizerManager,
    code: &str,
    modifier: Option<&Modifier>,
    values: &[SearchValue],
    single_date: bool,
) -> Translated {
    let presence = || term_query(fields.terms, &terms::term(code, marker::PRESENT, ""));
    // Full text: every word must occur (exact by definition of `_text` and `_content` here).
    if code == "_text" || code == "_content" {
        let field = if code == "_text" {
            fields.narrative
        } else {
            fields.content
        };
        let alternatives = values
            .iter()
            .filter_map(|v| match v {
                SearchValue::String(text) => Some(words_query(field, tokenizers, text)),
                _ => None,
            })
            .collect();
        return Translated {
            query: or(alternatives),
            exact: true,
        };
    }
    if modifier == Some(&Modifier::Not) {
        // A resource matches `:not=a,b` when none of its values is a or b.
        // Negating a superset would lose matches: without an exact positive, check them all.
        let positive = direct(fields, tokenizers, code, None, values, single_date);
        if !positive.exact {
            return Translated {
                query: Box::new(AllQuery),
                exact: false,
            };
        }
        return Translated {
            exact: true,
            query: not(positive.query),
        };
    }
    let mut alternatives = Vec::with_capacity(values.len());
    let mut exact = true;
    for value in values {
        let (query, value_exact) =
            value_query(fields, code, modifier, value, &presence, single_date);
        exact &= value_exact;
        alternatives.push(query);
    }
    Translated {
        query: or(alternatives),
        exact,
    }
}

fn words_query(
    field: tantivy::schema::Field,
    tokenizers: &tantivy::tokenizer::TokenizerManager,
    text: &str,
) -> Box<dyn Query> {
    let mut analyzer = tokenizers
        .get(super::TEXT_TOKENIZER)
        .expect("the text tokenizer is registered");
    let mut stream = analyzer.token_stream(text);
    let mut words = Vec::new();
    while stream.advance() {
        words.push(term_query(field, &stream.token().text));
    }
    if words.is_empty() {
        return Box::new(EmptyQuery);
    }
    and(words)
}

fn value_query(
    fields: &Fields,
    code: &str,
    modifier: Option<&Modifier>,
    value: &SearchValue,
    presence: &dyn Fn() -> Box<dyn Query>,
    single_date: bool,
) -> (Box<dyn Query>, bool) {
    let t =
        |marker: &str, payload: &str| term_query(fields.terms, &terms::term(code, marker, payload));
    match value {
        SearchValue::Missing(true) => (not(presence()), true),
        SearchValue::Missing(false) => (presence(), true),
        SearchValue::String(text) => match modifier {
            Some(Modifier::Exact) => (t(marker::EXACT, text), true),
            Some(Modifier::Contains) => {
                let pattern = format!(
                    "{}.*{}.*",
                    regex::escape(&terms::term(code, marker::STRING, "")),
                    regex::escape(&normalize_string(text))
                );
                match RegexQuery::from_pattern(&pattern, fields.terms) {
                    Ok(query) => (Box::new(query), true),
                    Err(_) => (presence(), false),
                }
            }
            None => (
                prefix_query(
                    fields.terms,
                    &terms::term(code, marker::STRING, &normalize_string(text)),
                ),
                true,
            ),
            _ => (presence(), false),
        },
        SearchValue::Token {
            system,
            code: token_code,
            ..
        } => match (modifier, system, token_code) {
            (Some(_), _, _) => (presence(), false),
            (None, None, Some(c)) => (t(marker::CODE, c), true),
            (None, Some(None), Some(c)) => (t(marker::NO_SYSTEM_CODE, c), true),
            (None, Some(Some(s)), Some(c)) => (t(marker::SYSTEM_CODE, &format!("{s}|{c}")), true),
            (None, Some(Some(s)), None) => (t(marker::SYSTEM, s), true),
            _ => (presence(), false),
        },
        SearchValue::Reference {
            resource_type,
            id,
            url,
            identifier,
            ..
        } => {
            if let Some((system, value)) = identifier {
                return match (system, value) {
                    (Some(Some(s)), Some(v)) => {
                        (t(marker::REF_IDENT_SYSTEM_VALUE, &format!("{s}|{v}")), true)
                    }
                    (None, Some(v)) => (t(marker::REF_IDENT_VALUE, v), true),
                    _ => (presence(), false),
                };
            }
            let mut alternatives = Vec::new();
            if let Some(url) = url {
                alternatives.push(t(marker::REF_URL, url));
            }
            match (resource_type, id) {
                (Some(rt), Some(id)) => {
                    alternatives.push(t(marker::REF_TYPED, &format!("{rt}/{id}")))
                }
                (None, Some(id)) => alternatives.push(t(marker::REF_ID, id)),
                _ => {}
            }
            if alternatives.is_empty() {
                (presence(), false)
            } else {
                // An absolute URL that also names Type/id may point to this server or to another:
                // exact matching decides.
                let exact = url.is_none() || id.is_none();
                (or(alternatives), exact)
            }
        }
        SearchValue::Uri(uri) => match modifier {
            None => (t(marker::URI, uri), true),
            Some(Modifier::Below) => (
                prefix_query(fields.terms, &terms::term(code, marker::URI, uri)),
                true,
            ),
            _ => (presence(), false),
        },
        SearchValue::Date { prefix, start, end } if single_date && modifier.is_none() => {
            match single_date_query(fields, code, *prefix, *start, *end) {
                Some(query) => (query, true),
                None => (
                    date_query(fields, code, *prefix, *start, *end, presence),
                    false,
                ),
            }
        }
        SearchValue::Date { prefix, start, end } => (
            date_query(fields, code, *prefix, *start, *end, presence),
            false,
        ),
        SearchValue::Number { .. }
        | SearchValue::Quantity { .. }
        | SearchValue::Composite(_)
        | SearchValue::Near { .. } => (presence(), false),
    }
}

/// The exact query of a date comparison when each resource has at most one value, a date,
/// dateTime or instant (its start and end terms are those of one range `[ts, te)` with
/// `ts < te`). Only `eq`: `ss <= ts && te <= se` is then `ts` in `[ss, se)` and `te` in
/// `(ss, se]`, two bounded ranges, where the narrowing of any date walks every term after `ss`
/// and every term before `se` (most of the dictionary) and reads each candidate's body. The
/// other prefixes are half-open whatever is done (no cheaper), so they keep the narrowing.
fn single_date_query(
    fields: &Fields,
    code: &str,
    prefix: Prefix,
    ss: i64,
    se: i64,
) -> Option<Box<dyn Query>> {
    use Bound::*;
    let starts = |lower, upper| range(fields, code, marker::DATE_START, lower, upper);
    let ends = |lower, upper| range(fields, code, marker::DATE_END, lower, upper);
    match prefix {
        Prefix::Eq => Some(and(vec![
            starts(Included(ss), Excluded(se)),
            ends(Excluded(ss), Included(se)),
        ])),
        _ => None,
    }
}

/// Candidates for a date comparison: target `[ts, te)` against search `[ss, se)`.
fn date_query(
    fields: &Fields,
    code: &str,
    prefix: Prefix,
    ss: i64,
    se: i64,
    presence: &dyn Fn() -> Box<dyn Query>,
) -> Box<dyn Query> {
    use Bound::*;
    let starts = |lower, upper| range(fields, code, marker::DATE_START, lower, upper);
    let ends = |lower, upper| range(fields, code, marker::DATE_END, lower, upper);
    match prefix {
        // Within: some start >= ss and some end <= se.
        Prefix::Eq => and(vec![
            starts(Included(ss), Unbounded),
            ends(Unbounded, Included(se)),
        ]),
        // Extends after the search range.
        Prefix::Gt => ends(Excluded(se), Unbounded),
        // Extends before it.
        Prefix::Lt => starts(Unbounded, Excluded(ss)),
        // gt or eq: in both cases the target ends after the search start.
        Prefix::Ge => ends(Excluded(ss), Unbounded),
        // lt or eq: the target starts before the search end.
        Prefix::Le => starts(Unbounded, Excluded(se)),
        Prefix::Sa => starts(Included(se), Unbounded),
        Prefix::Eb => ends(Unbounded, Included(ss)),
        Prefix::Ne | Prefix::Ap => presence(),
    }
}
