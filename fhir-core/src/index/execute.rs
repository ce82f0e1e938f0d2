//! Running a parsed search against the index: candidates from tantivy, exact checks where the
//! index only narrows, keyset paging over a stable order, `_include` / `_revinclude`.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;

use serde_json::Value;
use tantivy::DocSet as _;
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, TermSetQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Searcher, Term};

use super::build::key;
use super::cursor::{Cursor, SortValue};
use super::plan::{self, term_query};
use super::terms::{self, marker};
use super::{IndexError, SearchIndex};
use crate::search::compartments::compartment_params;
use crate::search::extract::Extractor;
use crate::search::matching::matches_condition;
use crate::search::query::{
    Condition, Include, ParamPath, SearchRequest, SearchValue, Summary, TotalMode,
};
use crate::search::{IndexValue, ParamType};

/// Limits of a search.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// The page size when `_count` is not given.
    pub default_count: usize,
    /// The largest page size; a larger `_count` is reduced to it.
    pub max_count: usize,
    /// The most resources `_include` and `_revinclude` may add to one page; beyond it the
    /// search is refused rather than truncated.
    pub max_included: usize,
    /// The most resources an inner search of a chain or `_has` may match.
    pub max_chain_matches: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            default_count: 50,
            max_count: 1_000,
            max_included: 10_000,
            max_chain_matches: 100_000,
        }
    }
}

/// One resource of a result page.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The resource type.
    pub resource_type: String,
    /// The id.
    pub id: String,
    /// The current version.
    pub version: i64,
    /// `meta.lastUpdated` in milliseconds.
    pub last_updated: i64,
    /// The body as stored.
    pub body: String,
}

/// A page of search results.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// The matches of this page, in order.
    pub matches: Vec<Hit>,
    /// Resources added by `_include` and `_revinclude`.
    pub includes: Vec<Hit>,
    /// The number of matches of all pages (absent for `_total=none`).
    pub total: Option<u64>,
    /// The cursor of the next page.
    pub next: Option<Cursor>,
    /// The cursor of the previous page.
    pub previous: Option<Cursor>,
    /// The page size used.
    pub count: usize,
}

/// Why a search could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The request is malformed (a broken cursor, an unknown list …).
    #[error("{0}")]
    BadRequest(String),
    /// The request would cost too much (a chain matching too many resources …).
    #[error("{0}")]
    TooCostly(String),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(error: tantivy::TantivyError) -> Self {
        SearchError::Index(IndexError::Tantivy(error))
    }
}

/// A condition the index could only narrow: checked against each candidate.
struct Check<'a> {
    code: &'a str,
    param_type: ParamType,
    modifier: Option<&'a crate::search::query::Modifier>,
    values: &'a [SearchValue],
}

/// A resource that the index selected.
struct Candidate {
    address: DocAddress,
    resource_type: String,
    id: String,
    last_updated: i64,
    /// The body, parsed, once it was needed.
    resource: Option<Value>,
    key: Vec<SortValue>,
}

impl SearchIndex {
    /// Runs a search in a tenant, after making every write acknowledged so far visible.
    pub async fn search(
        self: &Arc<SearchIndex>,
        tenant: &str,
        request: SearchRequest,
        options: SearchOptions,
    ) -> Result<SearchPage, SearchError> {
        self.refresh().await?;
        self.search_visible(tenant, request, options).await
    }

    /// Runs a search on what is visible now, without catching up first: for callers that have
    /// just called [`SearchIndex::refresh`] themselves (the server does, before parsing, so that
    /// the tenant's registry knows every SearchParameter written before the search).
    pub async fn search_visible(
        self: &Arc<SearchIndex>,
        tenant: &str,
        request: SearchRequest,
        options: SearchOptions,
    ) -> Result<SearchPage, SearchError> {
        let this = self.clone();
        let tenant = tenant.to_owned();
        tokio::task::spawn_blocking(move || {
            let run = Run {
                index: &this,
                searcher: this.reader().searcher(),
                tenant: &tenant,
                extractor: this.extractor(&tenant),
                options: &options,
            };
            run.search(&request)
        })
        .await
        .map_err(|e| SearchError::Index(IndexError::Unavailable(e.to_string())))?
    }

    /// The resources of a type that match conditions (for conditional create, update and
    /// delete), at most `limit`, on what is visible now: call [`SearchIndex::refresh`] first.
    pub async fn find(
        self: &Arc<SearchIndex>,
        tenant: &str,
        resource_type: &str,
        conditions: Vec<Condition>,
        limit: usize,
    ) -> Result<Vec<Hit>, SearchError> {
        let request = SearchRequest {
            types: vec![resource_type.to_owned()],
            conditions,
            count: Some(limit),
            total: TotalMode::None,
            ..SearchRequest::default()
        };
        let options = SearchOptions {
            max_count: limit,
            ..SearchOptions::default()
        };
        Ok(self.search_visible(tenant, request, options).await?.matches)
    }
}

struct Run<'a> {
    index: &'a SearchIndex,
    searcher: Searcher,
    tenant: &'a str,
    extractor: Arc<Extractor>,
    options: &'a SearchOptions,
}

impl Run<'_> {
    fn search(&self, request: &SearchRequest) -> Result<SearchPage, SearchError> {
        let count = match request.summary {
            Some(Summary::Count) => 0,
            _ => request
                .count
                .unwrap_or(self.options.default_count)
                .min(self.options.max_count),
        };
        let cursor = match &request.cursor {
            Some(text) => Some(Cursor::decode(text, request.sort.len()).ok_or_else(|| {
                SearchError::BadRequest(
                    "the _cursor parameter is not a cursor of this search; follow the links of a search result".into(),
                )
            })?),
            None => None,
        };
        let (query, checks) = self.build_query(
            &request.types,
            &request.conditions,
            request.compartment.as_ref(),
        )?;
        if checks.is_empty()
            && request.sort.is_empty()
            && request.types.len() == 1
            && !request.include_once
        {
            return self.page_by_id(request, &query, count, cursor.as_ref());
        }
        if checks.is_empty()
            && request.types.len() == 1
            && !request.include_once
            && request.sort.len() == 1
            && request.sort[0].code == "_lastUpdated"
            && cursor
                .as_ref()
                .is_none_or(|c| matches!(c.key.as_slice(), [SortValue::Number(_)]))
        {
            return self.page_by_last_updated(request, &query, count, cursor.as_ref());
        }
        let mut candidates = self.collect(&query, &checks)?;
        let term_keys = self.term_sort_keys(&candidates, request)?;
        for (position, candidate) in candidates.iter_mut().enumerate() {
            candidate.key = self.sort_key(candidate, request, &term_keys, position)?;
            // Bodies are not kept for the whole result: only the page is read again.
            candidate.resource = None;
        }
        candidates.sort_by(|a, b| compare(a, b, request));
        let total = match request.total {
            TotalMode::None if request.summary != Some(Summary::Count) => None,
            _ => Some(candidates.len() as u64),
        };
        let (start, end) = match &cursor {
            None => (0, count.min(candidates.len())),
            Some(cursor) if cursor.forward => {
                let start = candidates.partition_point(|c| {
                    compare_to_cursor(c, cursor, request) != Ordering::Greater
                });
                (start, (start + count).min(candidates.len()))
            }
            Some(cursor) => {
                let end = candidates
                    .partition_point(|c| compare_to_cursor(c, cursor, request) == Ordering::Less);
                (end.saturating_sub(count), end)
            }
        };
        let cursor_at = |c: &Candidate, forward: bool| Cursor {
            forward,
            key: c.key.clone(),
            resource_type: c.resource_type.clone(),
            id: c.id.clone(),
        };
        let next = (count > 0 && end < candidates.len() && end > 0)
            .then(|| cursor_at(&candidates[end - 1], true));
        let previous = (count > 0 && start > 0 && start < candidates.len() + 1)
            .then(|| cursor_at(&candidates[start.min(candidates.len() - 1)], false));
        let mut matches = Vec::with_capacity(end - start);
        for candidate in &candidates[start..end] {
            matches.push(self.hit(candidate.address)?);
        }
        let includes = if matches.is_empty() {
            Vec::new()
        } else {
            let mut seen: HashSet<(String, String)> = HashSet::new();
            if request.include_once {
                // What earlier pages already included (through their matches' references) or
                // returned as matches.
                for candidate in &mut candidates[..start] {
                    seen.insert((candidate.resource_type.clone(), candidate.id.clone()));
                    if candidate.resource.is_none() {
                        candidate.resource = Some(self.load_json(candidate.address)?);
                    }
                    let resource = candidate.resource.as_ref().expect("loaded");
                    for include in request.includes.iter().filter(|i| {
                        i.source_type
                            .as_ref()
                            .is_none_or(|t| t == &candidate.resource_type)
                    }) {
                        for code in self
                            .reference_params(&candidate.resource_type, include.param.as_deref())
                        {
                            for value in self.extractor.extract_param(
                                &candidate.resource_type,
                                &code,
                                resource,
                            ) {
                                if let IndexValue::Reference {
                                    resource_type: Some(t),
                                    id: Some(id),
                                    ..
                                } = value
                                {
                                    seen.insert((t, id));
                                }
                            }
                        }
                    }
                }
                // Matches of later pages are not included here: they come as matches.
                for candidate in &candidates[end..] {
                    seen.insert((candidate.resource_type.clone(), candidate.id.clone()));
                }
            }
            let mut included =
                self.includes(&matches, &request.includes, &request.revincludes, seen)?;
            if let Some(since) = request.include_since {
                included.retain(|hit| hit.last_updated >= since);
            }
            included
        };
        Ok(SearchPage {
            matches,
            includes,
            total,
            next,
            previous,
            count,
        })
    }

    /// The resources of `types` (all types when empty) that satisfy every condition, checked
    /// exactly.
    fn matching(
        &self,
        types: &[String],
        conditions: &[Condition],
        compartment: Option<&(String, String)>,
    ) -> Result<Vec<Candidate>, SearchError> {
        let (query, checks) = self.build_query(types, conditions, compartment)?;
        self.collect(&query, &checks)
    }

    /// The query that selects the candidates, and the exact checks they need.
    fn build_query<'c>(
        &self,
        types: &[String],
        conditions: &'c [Condition],
        compartment: Option<&(String, String)>,
    ) -> Result<(BooleanQuery, Vec<Check<'c>>), SearchError> {
        let fields = self.index.fields();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, term_query(fields.tenant, self.tenant))];
        if !types.is_empty() {
            let types: Vec<(Occur, Box<dyn Query>)> = types
                .iter()
                .map(|t| (Occur::Should, term_query(fields.resource_type, t)))
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(types))));
        }
        if let Some((compartment_type, id)) = compartment {
            clauses.push((
                Occur::Must,
                self.compartment_query(types, compartment_type, id),
            ));
        }
        let mut checks = Vec::new();
        for condition in conditions {
            let (query, check) = self.condition(types, condition)?;
            clauses.push((Occur::Must, query));
            checks.extend(check);
        }
        Ok((BooleanQuery::new(clauses), checks))
    }

    /// Runs a query and keeps the candidates that pass the checks.
    fn collect(
        &self,
        query: &BooleanQuery,
        checks: &[Check<'_>],
    ) -> Result<Vec<Candidate>, SearchError> {
        let addresses = self.searcher.search(query, &DocSetCollector)?;
        let mut candidates = Vec::with_capacity(addresses.len());
        let mut columns = Columns::new(&self.searcher)?;
        let mut addresses: Vec<DocAddress> = addresses.into_iter().collect();
        addresses.sort_unstable();
        for address in addresses {
            let (resource_type, id, last_updated) = columns.read(address);
            let candidate = Candidate {
                address,
                resource_type,
                id,
                last_updated,
                resource: None,
                key: Vec::new(),
            };
            if !checks.is_empty() {
                let resource = self.load_json(address)?;
                let keep = checks.iter().all(|check| {
                    let indexed = self.extractor.extract_param(
                        &candidate.resource_type,
                        check.code,
                        &resource,
                    );
                    matches_condition(check.param_type, check.modifier, check.values, &indexed)
                });
                if !keep {
                    continue;
                }
                // The parsed body is not kept: a search with checks may match every resource
                // of a type, and holding them all parsed took hundreds of MB (never given back
                // to the system afterwards). Those that need it again parse it again.
            }
            candidates.push(candidate);
        }
        Ok(candidates)
    }

    fn compartment_query(
        &self,
        types: &[String],
        compartment_type: &str,
        id: &str,
    ) -> Box<dyn Query> {
        let fields = self.index.fields();
        let reference = format!("{compartment_type}/{id}");
        let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        // The owner of the compartment is in it.
        if types.is_empty() || types.iter().any(|t| t == compartment_type) {
            alternatives.push((
                Occur::Should,
                term_query(fields.key, &key(self.tenant, compartment_type, id)),
            ));
        }
        for resource_type in types {
            let Some(params) = compartment_params(compartment_type, resource_type) else {
                continue;
            };
            for param in params {
                if param == "{def}" {
                    alternatives.push((
                        Occur::Should,
                        term_query(fields.key, &key(self.tenant, resource_type, id)),
                    ));
                } else {
                    alternatives.push((
                        Occur::Should,
                        term_query(
                            fields.terms,
                            &terms::term(param, marker::REF_TYPED, &reference),
                        ),
                    ));
                }
            }
        }
        if alternatives.is_empty() {
            return Box::new(tantivy::query::EmptyQuery);
        }
        Box::new(BooleanQuery::new(alternatives))
    }

    /// A condition's query, and the exact check it needs when the query only narrows.
    fn condition<'c>(
        &self,
        types: &[String],
        condition: &'c Condition,
    ) -> Result<(Box<dyn Query>, Option<Check<'c>>), SearchError> {
        let fields = self.index.fields();
        match &condition.path {
            ParamPath::Direct {
                code,
                param_type,
                modifier,
            } => {
                if code == "_list" {
                    return Ok((self.list_query(types, &condition.values)?, None));
                }
                let single_date = *param_type == ParamType::Date
                    && !types.is_empty()
                    && types.iter().all(|t| self.extractor.single_date(t, code));
                let translated = plan::direct(
                    fields,
                    self.index.index.tokenizers(),
                    code,
                    modifier.as_ref(),
                    &condition.values,
                    single_date,
                );
                let check = (!translated.exact).then_some(Check {
                    code,
                    param_type: *param_type,
                    modifier: modifier.as_ref(),
                    values: &condition.values,
                });
                Ok((translated.query, check))
            }
            ParamPath::Chain {
                reference,
                target_types,
                next,
            } => {
                let inner = Condition {
                    path: (**next).clone(),
                    values: condition.values.clone(),
                };
                let targets = self.matching(target_types, std::slice::from_ref(&inner), None)?;
                self.limit_chain(targets.len(), reference)?;
                let terms = targets.iter().map(|t| {
                    Term::from_field_text(
                        fields.terms,
                        &terms::term(
                            reference,
                            marker::REF_TYPED,
                            &format!("{}/{}", t.resource_type, t.id),
                        ),
                    )
                });
                Ok((Box::new(TermSetQuery::new(terms)), None))
            }
            ParamPath::Has {
                resource_type,
                reference,
                next,
            } => {
                let inner = Condition {
                    path: (**next).clone(),
                    values: condition.values.clone(),
                };
                let referring = self.matching(
                    std::slice::from_ref(resource_type),
                    std::slice::from_ref(&inner),
                    None,
                )?;
                self.limit_chain(referring.len(), reference)?;
                let mut keys = HashSet::new();
                for candidate in referring {
                    let resource = match candidate.resource {
                        Some(resource) => resource,
                        None => self.load_json(candidate.address)?,
                    };
                    for value in self
                        .extractor
                        .extract_param(resource_type, reference, &resource)
                    {
                        if let IndexValue::Reference {
                            resource_type: Some(target_type),
                            id: Some(id),
                            ..
                        } = value
                            && (types.is_empty() || types.contains(&target_type))
                        {
                            keys.insert(key(self.tenant, &target_type, &id));
                        }
                    }
                }
                let terms = keys.iter().map(|k| Term::from_field_text(fields.key, k));
                Ok((Box::new(TermSetQuery::new(terms)), None))
            }
        }
    }

    fn limit_chain(&self, matched: usize, reference: &str) -> Result<(), SearchError> {
        if matched > self.options.max_chain_matches {
            return Err(SearchError::TooCostly(format!(
                "the chain through '{reference}' matches {matched} resources, more than the {} allowed; add conditions to the chained parameter",
                self.options.max_chain_matches
            )));
        }
        Ok(())
    }

    /// `_list=id`: the resources a List of the tenant refers to.
    fn list_query(
        &self,
        types: &[String],
        values: &[SearchValue],
    ) -> Result<Box<dyn Query>, SearchError> {
        let fields = self.index.fields();
        let mut keys = Vec::new();
        for value in values {
            let id = match value {
                SearchValue::Reference { id: Some(id), .. } => id.clone(),
                SearchValue::Token { code: Some(id), .. } => id.clone(),
                SearchValue::String(id) => id.clone(),
                _ => continue,
            };
            let Some(list) = self.find_key(&key(self.tenant, "List", &id))? else {
                continue;
            };
            let resource: Value = serde_json::from_str(&list.body).unwrap_or(Value::Null);
            for entry in resource["entry"].as_array().into_iter().flatten() {
                let Some(reference) = entry["item"]["reference"].as_str() else {
                    continue;
                };
                if let Some((target_type, target_id)) = reference.rsplit_once('/')
                    && (types.is_empty() || types.iter().any(|t| target_type.ends_with(t.as_str())))
                {
                    let target_type = target_type.rsplit('/').next().unwrap_or(target_type);
                    keys.push(Term::from_field_text(
                        fields.key,
                        &key(self.tenant, target_type, target_id),
                    ));
                }
            }
        }
        Ok(Box::new(TermSetQuery::new(keys)))
    }

    fn sort_key(
        &self,
        candidate: &mut Candidate,
        request: &SearchRequest,
        term_keys: &[Option<Vec<SortValue>>],
        position: usize,
    ) -> Result<Vec<SortValue>, SearchError> {
        let mut key = Vec::with_capacity(request.sort.len());
        for (i, sort) in request.sort.iter().enumerate() {
            let value = match sort.code.as_str() {
                "_id" => SortValue::Text(candidate.id.clone()),
                "_lastUpdated" => SortValue::Number(candidate.last_updated as f64),
                _ if term_keys[i].is_some() => {
                    term_keys[i].as_ref().expect("checked")[position].clone()
                }
                code => {
                    if candidate.resource.is_none() {
                        candidate.resource = Some(self.load_json(candidate.address)?);
                    }
                    let resource = candidate.resource.as_ref().expect("loaded");
                    let values =
                        self.extractor
                            .extract_param(&candidate.resource_type, code, resource);
                    sort_value(&values, sort.descending)
                }
            };
            key.push(value);
        }
        Ok(key)
    }

    /// The common case, answered without reading every match: one type, exact conditions, the
    /// default order (by id). The page is the first `count` ids after the cursor, from the id
    /// fast field; the total is a count.
    fn page_by_id(
        &self,
        request: &SearchRequest,
        query: &BooleanQuery,
        count: usize,
        cursor: Option<&Cursor>,
    ) -> Result<SearchPage, SearchError> {
        use tantivy::Order;
        use tantivy::collector::Count;
        use tantivy::query::RangeQuery;
        let fields = self.index.fields();
        let total = match request.total {
            TotalMode::None if request.summary != Some(Summary::Count) => None,
            _ => Some(self.searcher.search(query, &Count)? as u64),
        };
        if count == 0 {
            return Ok(SearchPage {
                total,
                count,
                ..SearchPage::default()
            });
        }
        let id_term = |id: &str| Term::from_field_text(fields.id, id);
        let (bound, order) = match cursor {
            None => (None, Order::Asc),
            Some(c) if c.forward => (
                Some(RangeQuery::new(
                    Bound::Excluded(id_term(&c.id)),
                    Bound::Unbounded,
                )),
                Order::Asc,
            ),
            Some(c) => (
                Some(RangeQuery::new(
                    Bound::Unbounded,
                    Bound::Excluded(id_term(&c.id)),
                )),
                Order::Desc,
            ),
        };
        let page_query: Box<dyn Query> = match bound {
            None => Box::new(query.clone()),
            Some(range) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(query.clone()) as Box<dyn Query>),
                (Occur::Must, Box::new(range)),
            ])),
        };
        let top = self.searcher.search(
            &page_query,
            &TopDocs::with_limit(count + 1).order_by_string_fast_field("id", order),
        )?;
        let more = top.len() > count;
        let mut addresses: Vec<DocAddress> = top.into_iter().take(count).map(|(_, a)| a).collect();
        let backward = cursor.is_some_and(|c| !c.forward);
        if backward {
            addresses.reverse();
        }
        let mut matches = Vec::with_capacity(addresses.len());
        for address in addresses {
            matches.push(self.hit(address)?);
        }
        let (next, previous) = neighbour_cursors(&matches, more, cursor, |hit, forward| Cursor {
            forward,
            key: Vec::new(),
            resource_type: hit.resource_type.clone(),
            id: hit.id.clone(),
        });
        self.fast_page(request, matches, total, next, previous, count)
    }

    /// `_sort=_lastUpdated` or `-_lastUpdated` (the recently updated list), one type, exact
    /// conditions: the order of the general path (lastUpdated, then type and id) without
    /// reading the type and id of every match. The matches' lastUpdated come from the fast
    /// field; only the page's worth of them nearest the cursor (and those tied with the cursor
    /// or with the last of them) are read further and ordered exactly.
    fn page_by_last_updated(
        &self,
        request: &SearchRequest,
        query: &BooleanQuery,
        count: usize,
        cursor: Option<&Cursor>,
    ) -> Result<SearchPage, SearchError> {
        let all = self.searcher.search(query, &LastUpdatedCollector)?;
        let total = match request.total {
            TotalMode::None if request.summary != Some(Summary::Count) => None,
            _ => Some(all.len() as u64),
        };
        if count == 0 {
            return Ok(SearchPage {
                total,
                count,
                ..SearchPage::default()
            });
        }
        let backward = cursor.is_some_and(|c| !c.forward);
        // The walking order: the sort order, reversed when going backward from a cursor. A
        // smaller rank comes first.
        let reverse = request.sort[0].descending != backward;
        let rank = |lu: i64| {
            if reverse {
                -i128::from(lu)
            } else {
                i128::from(lu)
            }
        };
        let cursor_lu = cursor.and_then(|c| match c.key.as_slice() {
            [SortValue::Number(n)] => Some(*n as i64),
            _ => None,
        });
        // Tied with the cursor's lastUpdated: before or after it by type and id.
        let (mut tied, mut ahead): (Vec<_>, Vec<_>) = match cursor_lu {
            None => (Vec::new(), all),
            Some(at) => {
                let (tied, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|(lu, _)| *lu == at);
                let ahead = rest
                    .into_iter()
                    .filter(|(lu, _)| rank(*lu) > rank(at))
                    .collect();
                (tied, ahead)
            }
        };
        let want = count + 1;
        if ahead.len() > want {
            ahead.select_nth_unstable_by_key(want - 1, |(lu, _)| rank(*lu));
            let threshold = rank(ahead[want - 1].0);
            ahead.retain(|(lu, _)| rank(*lu) <= threshold);
        }
        tied.extend(ahead);
        let mut columns = Columns::new(&self.searcher)?;
        let mut candidates: Vec<Candidate> = Vec::with_capacity(tied.len());
        for (last_updated, address) in tied {
            let (resource_type, id, _) = columns.read(address);
            let candidate = Candidate {
                address,
                resource_type,
                id,
                last_updated,
                resource: None,
                key: vec![SortValue::Number(last_updated as f64)],
            };
            let past_cursor = cursor.is_none_or(|c| {
                let order = compare_to_cursor(&candidate, c, request);
                if backward {
                    order == Ordering::Less
                } else {
                    order == Ordering::Greater
                }
            });
            if past_cursor {
                candidates.push(candidate);
            }
        }
        candidates.sort_by(|a, b| compare(a, b, request));
        let more = candidates.len() > count;
        let page: &[Candidate] = if backward {
            &candidates[candidates.len().saturating_sub(count)..]
        } else {
            &candidates[..count.min(candidates.len())]
        };
        let (next, previous) = neighbour_cursors(page, more, cursor, |c, forward| Cursor {
            forward,
            key: c.key.clone(),
            resource_type: c.resource_type.clone(),
            id: c.id.clone(),
        });
        let mut matches = Vec::with_capacity(page.len());
        for candidate in page {
            matches.push(self.hit(candidate.address)?);
        }
        self.fast_page(request, matches, total, next, previous, count)
    }

    /// The page of a fast path (`page_by_id`, `page_by_last_updated`) with its includes: the
    /// fast paths never serve `include_once`, so nothing earlier pages included is excluded.
    fn fast_page(
        &self,
        request: &SearchRequest,
        matches: Vec<Hit>,
        total: Option<u64>,
        next: Option<Cursor>,
        previous: Option<Cursor>,
        count: usize,
    ) -> Result<SearchPage, SearchError> {
        let includes = if matches.is_empty() {
            Vec::new()
        } else {
            self.includes(
                &matches,
                &request.includes,
                &request.revincludes,
                HashSet::new(),
            )?
        };
        Ok(SearchPage {
            matches,
            includes,
            total,
            next,
            previous,
            count,
        })
    }

    /// Sort keys read from the term dictionary, for the `_sort` parameters whose values are
    /// ordered terms (dates, strings, tokens, uris, references): walking the terms in order
    /// gives each document its smallest (or largest) value without reading any body. `None`
    /// for the keys that need the body (numbers, quantities) or that are not parameters.
    fn term_sort_keys(
        &self,
        candidates: &[Candidate],
        request: &SearchRequest,
    ) -> Result<Vec<Option<Vec<SortValue>>>, SearchError> {
        let fields = self.index.fields();
        let mut all = Vec::with_capacity(request.sort.len());
        for sort in &request.sort {
            let marker = match sort.param_type {
                ParamType::Date if sort.descending => marker::DATE_END,
                ParamType::Date => marker::DATE_START,
                ParamType::String => marker::STRING,
                ParamType::Token => marker::CODE,
                ParamType::Uri => marker::URI,
                ParamType::Reference => marker::REF_TYPED,
                _ => {
                    all.push(None);
                    continue;
                }
            };
            if sort.code.starts_with('_') && matches!(sort.code.as_str(), "_id" | "_lastUpdated") {
                all.push(None);
                continue;
            }
            let prefix = terms::term(&sort.code, marker, "");
            let mut upper = prefix.clone().into_bytes();
            *upper.last_mut().expect("non-empty") += 1;
            // Per segment: doc → the key found for it.
            let mut per_segment: Vec<Vec<Option<SortValue>>> = Vec::new();
            for segment in self.searcher.segment_readers() {
                let mut keys: Vec<Option<SortValue>> = vec![None; segment.max_doc() as usize];
                let inverted = segment.inverted_index(fields.terms)?;
                let mut stream = inverted
                    .terms()
                    .range()
                    .ge(prefix.as_bytes())
                    .lt(&upper)
                    .into_stream()
                    .map_err(|e| SearchError::Index(IndexError::Io(e)))?;
                while stream.advance() {
                    let payload =
                        String::from_utf8_lossy(&stream.key()[prefix.len()..]).into_owned();
                    let value = if sort.param_type == ParamType::Date {
                        match u64::from_str_radix(&payload, 16) {
                            Ok(bits) => SortValue::Number(((bits ^ (1 << 63)) as i64) as f64),
                            Err(_) => continue,
                        }
                    } else {
                        SortValue::Text(payload)
                    };
                    let mut postings = inverted
                        .read_postings_from_terminfo(stream.value(), IndexRecordOption::Basic)
                        .map_err(|e| SearchError::Index(IndexError::Io(e)))?;
                    let mut doc = postings.doc();
                    while doc != tantivy::TERMINATED {
                        let slot = &mut keys[doc as usize];
                        // Terms come in increasing order: the first is the smallest value, the
                        // last the largest.
                        if sort.descending || slot.is_none() {
                            *slot = Some(value.clone());
                        }
                        doc = postings.advance();
                    }
                }
                per_segment.push(keys);
            }
            let keys: Vec<SortValue> = candidates
                .iter()
                .map(|c| {
                    per_segment[c.address.segment_ord as usize][c.address.doc_id as usize]
                        .clone()
                        .unwrap_or(SortValue::Missing)
                })
                .collect();
            all.push(Some(keys));
        }
        Ok(all)
    }

    fn load_json(&self, address: DocAddress) -> Result<Value, SearchError> {
        let hit = self.hit(address)?;
        Ok(serde_json::from_str(&hit.body).unwrap_or(Value::Null))
    }

    fn hit(&self, address: DocAddress) -> Result<Hit, SearchError> {
        Ok(self.index.fields().load(&self.searcher, address)?)
    }

    fn find_key(&self, key: &str) -> Result<Option<Hit>, SearchError> {
        Ok(self.index.fields().lookup(&self.searcher, key)?)
    }

    /// `_include` and `_revinclude`, with `:iterate`, never truncated: a page that would pull
    /// in more than the limit is refused.
    fn includes(
        &self,
        matches: &[Hit],
        includes: &[Include],
        revincludes: &[Include],
        mut seen: HashSet<(String, String)>,
    ) -> Result<Vec<Hit>, SearchError> {
        if includes.is_empty() && revincludes.is_empty() {
            return Ok(Vec::new());
        }
        seen.extend(
            matches
                .iter()
                .map(|h| (h.resource_type.clone(), h.id.clone())),
        );
        let mut added: Vec<Hit> = Vec::new();
        let mut frontier: Vec<Hit> = matches.to_vec();
        let mut first = true;
        while !frontier.is_empty() {
            let mut found: Vec<Hit> = Vec::new();
            for include in includes.iter().filter(|i| first || i.iterate) {
                for hit in &frontier {
                    if include
                        .source_type
                        .as_ref()
                        .is_some_and(|t| t != &hit.resource_type)
                    {
                        continue;
                    }
                    let resource: Value = serde_json::from_str(&hit.body).unwrap_or(Value::Null);
                    for code in self.reference_params(&hit.resource_type, include.param.as_deref())
                    {
                        for value in
                            self.extractor
                                .extract_param(&hit.resource_type, &code, &resource)
                        {
                            let IndexValue::Reference {
                                resource_type: Some(target_type),
                                id: Some(id),
                                ..
                            } = value
                            else {
                                continue;
                            };
                            if include
                                .target_type
                                .as_ref()
                                .is_some_and(|t| t != &target_type)
                            {
                                continue;
                            }
                            if seen.contains(&(target_type.clone(), id.clone())) {
                                continue;
                            }
                            if let Some(target) =
                                self.find_key(&key(self.tenant, &target_type, &id))?
                            {
                                seen.insert((target_type, id));
                                found.push(target);
                            }
                        }
                    }
                }
            }
            for revinclude in revincludes.iter().filter(|i| first || i.iterate) {
                found.extend(self.revinclude(revinclude, &frontier, &mut seen)?);
            }
            if added.len() + found.len() > self.options.max_included {
                return Err(SearchError::TooCostly(format!(
                    "_include and _revinclude would add more than {} resources to one page; use a smaller _count",
                    self.options.max_included
                )));
            }
            added.extend(found.iter().cloned());
            frontier = found;
            first = false;
        }
        Ok(added)
    }

    fn revinclude(
        &self,
        revinclude: &Include,
        targets: &[Hit],
        seen: &mut HashSet<(String, String)>,
    ) -> Result<Vec<Hit>, SearchError> {
        let fields = self.index.fields();
        let source_types: Vec<String> = match &revinclude.source_type {
            Some(t) => vec![t.clone()],
            None => Vec::new(),
        };
        let mut codes: Vec<String> = Vec::new();
        match (&revinclude.param, &revinclude.source_type) {
            (Some(param), _) => codes.push(param.clone()),
            (None, Some(source)) => codes.extend(self.reference_params(source, None)),
            (None, None) => {
                let registry = self.extractor.registry();
                let mut all: Vec<String> = crate::model::Model::r4()
                    .resource_type_names()
                    .flat_map(|t| registry.for_type(t))
                    .filter(|p| p.param_type == ParamType::Reference)
                    .map(|p| p.code.clone())
                    .collect();
                all.sort();
                all.dedup();
                codes = all;
            }
        }
        let mut terms = Vec::new();
        for target in targets {
            if revinclude
                .target_type
                .as_ref()
                .is_some_and(|t| t != &target.resource_type)
            {
                continue;
            }
            let reference = format!("{}/{}", target.resource_type, target.id);
            for code in &codes {
                terms.push(Term::from_field_text(
                    fields.terms,
                    &terms::term(code, marker::REF_TYPED, &reference),
                ));
            }
        }
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, term_query(fields.tenant, self.tenant)),
            (Occur::Must, Box::new(TermSetQuery::new(terms))),
        ];
        if let Some(source) = source_types.first() {
            clauses.push((Occur::Must, term_query(fields.resource_type, source)));
        }
        let addresses = self
            .searcher
            .search(&BooleanQuery::new(clauses), &DocSetCollector)?;
        if addresses.len() > self.options.max_included {
            return Err(SearchError::TooCostly(format!(
                "_revinclude would add {} resources to one page, more than {}; use a smaller _count",
                addresses.len(),
                self.options.max_included
            )));
        }
        let mut addresses: Vec<DocAddress> = addresses.into_iter().collect();
        addresses.sort_unstable();
        let mut found = Vec::new();
        for address in addresses {
            let hit = self.hit(address)?;
            if seen.insert((hit.resource_type.clone(), hit.id.clone())) {
                found.push(hit);
            }
        }
        Ok(found)
    }

    /// The reference parameters of a type to follow: one, or all (`*`).
    fn reference_params(&self, resource_type: &str, param: Option<&str>) -> Vec<String> {
        match param {
            Some(code) => vec![code.to_owned()],
            None => self
                .extractor
                .registry()
                .for_type(resource_type)
                .into_iter()
                .filter(|p| p.param_type == ParamType::Reference)
                .map(|p| p.code.clone())
                .collect(),
        }
    }
}

/// The sort value of a parameter's values read from the body: the smallest ascending, the
/// largest descending. Only numbers and quantities come here; the other sortable types take
/// their keys from the term dictionary (`term_sort_keys`).
fn sort_value(values: &[IndexValue], descending: bool) -> SortValue {
    let keys = values.iter().filter_map(|value| match value {
        IndexValue::Number(text) | IndexValue::Quantity { value: text, .. } => {
            text.parse::<f64>().ok().map(SortValue::Number)
        }
        _ => None,
    });
    let pick = |a: SortValue, b: SortValue| {
        let less = compare_values(&b, &a) == Ordering::Less;
        if less != descending { b } else { a }
    };
    keys.reduce(pick).unwrap_or(SortValue::Missing)
}

fn compare_values(a: &SortValue, b: &SortValue) -> Ordering {
    match (a, b) {
        (SortValue::Number(x), SortValue::Number(y)) => x.total_cmp(y),
        (SortValue::Text(x), SortValue::Text(y)) => x.cmp(y),
        (SortValue::Number(_), SortValue::Text(_)) => Ordering::Less,
        (SortValue::Text(_), SortValue::Number(_)) => Ordering::Greater,
        (SortValue::Missing, SortValue::Missing) => Ordering::Equal,
        (SortValue::Missing, _) => Ordering::Greater,
        (_, SortValue::Missing) => Ordering::Less,
    }
}

fn compare_keys(
    a: (&[SortValue], &str, &str),
    b: (&[SortValue], &str, &str),
    request: &SearchRequest,
) -> Ordering {
    for (i, sort) in request.sort.iter().enumerate() {
        let (x, y) = (&a.0[i], &b.0[i]);
        let ordering = match (x, y) {
            // Resources without a value come last in both directions.
            (SortValue::Missing, SortValue::Missing) => Ordering::Equal,
            (SortValue::Missing, _) => Ordering::Greater,
            (_, SortValue::Missing) => Ordering::Less,
            _ if sort.descending => compare_values(y, x),
            _ => compare_values(x, y),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    (a.1, a.2).cmp(&(b.1, b.2))
}

fn compare(a: &Candidate, b: &Candidate, request: &SearchRequest) -> Ordering {
    compare_keys(
        (&a.key, &a.resource_type, &a.id),
        (&b.key, &b.resource_type, &b.id),
        request,
    )
}

fn compare_to_cursor(a: &Candidate, cursor: &Cursor, request: &SearchRequest) -> Ordering {
    compare_keys(
        (&a.key, &a.resource_type, &a.id),
        (&cursor.key, &cursor.resource_type, &cursor.id),
        request,
    )
}

/// Every match with its lastUpdated (from the fast field), in no particular order.
struct LastUpdatedCollector;

impl tantivy::collector::Collector for LastUpdatedCollector {
    type Fruit = Vec<(i64, DocAddress)>;
    type Child = LastUpdatedSegment;

    fn for_segment(
        &self,
        segment_local_id: tantivy::SegmentOrdinal,
        segment: &tantivy::SegmentReader,
    ) -> tantivy::Result<LastUpdatedSegment> {
        Ok(LastUpdatedSegment {
            segment: segment_local_id,
            column: segment.fast_fields().i64("last_updated").ok(),
            docs: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        segment_fruits: Vec<Vec<(i64, DocAddress)>>,
    ) -> tantivy::Result<Vec<(i64, DocAddress)>> {
        Ok(segment_fruits.into_iter().flatten().collect())
    }
}

struct LastUpdatedSegment {
    segment: tantivy::SegmentOrdinal,
    column: Option<tantivy::columnar::Column<i64>>,
    docs: Vec<(i64, DocAddress)>,
}

impl tantivy::collector::SegmentCollector for LastUpdatedSegment {
    type Fruit = Vec<(i64, DocAddress)>;

    fn collect(&mut self, doc: tantivy::DocId, _score: tantivy::Score) {
        // As `Columns::read`: 0 when the column or the value is missing.
        let last_updated = self.column.as_ref().and_then(|c| c.first(doc)).unwrap_or(0);
        self.docs
            .push((last_updated, DocAddress::new(self.segment, doc)));
    }

    fn harvest(self) -> Vec<(i64, DocAddress)> {
        self.docs
    }
}

/// The fast columns of one segment: type, id, lastUpdated.
type SegmentColumns = (
    Option<tantivy::columnar::StrColumn>,
    Option<tantivy::columnar::StrColumn>,
    Option<tantivy::columnar::Column<i64>>,
);

/// The fast columns (type, id, lastUpdated) of every segment.
struct Columns {
    segments: Vec<SegmentColumns>,
    buffer: String,
}

impl Columns {
    fn new(searcher: &Searcher) -> Result<Columns, SearchError> {
        let mut segments = Vec::new();
        for segment in searcher.segment_readers() {
            let fast = segment.fast_fields();
            segments.push((
                fast.str("type")?,
                fast.str("id")?,
                fast.i64("last_updated").ok(),
            ));
        }
        Ok(Columns {
            segments,
            buffer: String::new(),
        })
    }

    fn read(&mut self, address: DocAddress) -> (String, String, i64) {
        let (types, ids, updated) = &self.segments[address.segment_ord as usize];
        let text = |column: &Option<tantivy::columnar::StrColumn>, buffer: &mut String| {
            buffer.clear();
            if let Some(column) = column
                && let Some(ord) = column.term_ords(address.doc_id).next()
            {
                let _ = column.ord_to_str(ord, buffer);
            }
            buffer.clone()
        };
        let resource_type = text(types, &mut self.buffer);
        let id = text(ids, &mut self.buffer);
        let last_updated = updated
            .as_ref()
            .and_then(|c| c.first(address.doc_id))
            .unwrap_or(0);
        (resource_type, id, last_updated)
    }
}

/// The neighbour cursors of a fast-path page, read with one match more than it holds (`more`):
/// going forward, more results mean a next page and a cursor means a page before it; going
/// backward, the other way round.
fn neighbour_cursors<T>(
    page: &[T],
    more: bool,
    cursor: Option<&Cursor>,
    cursor_at: impl Fn(&T, bool) -> Cursor,
) -> (Option<Cursor>, Option<Cursor>) {
    let (has_next, has_previous) = match cursor {
        None => (more, false),
        Some(c) if c.forward => (more, true),
        Some(_) => (true, more),
    };
    let next = if has_next {
        page.last().map(|x| cursor_at(x, true))
    } else {
        None
    };
    let previous = if has_previous {
        page.first().map(|x| cursor_at(x, false))
    } else {
        None
    };
    (next, previous)
}
