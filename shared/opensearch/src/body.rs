//! The OpenSearch side of the port as data, with no I/O: the index's settings and mapping, the
//! `_bulk` body of an upsert, the `_search` body of a [`SearchQuery`], and the page read back
//! from a `_search` response (its highlights turned into byte ranges).

use ccaas_app::ports::{SEARCH_FIELDS, SearchDoc, SearchHit, SearchPage, Snippet};
use ccaas_domain::search::{MAX_WORD_BYTES, Term};
use ccaas_domain::{SearchQuery, Status, TaskId, TaskType};
use serde_json::{Value, json};

use crate::OpenSearchError;

/// The score every matched term adds on top of BM25, so a hit that matches more terms ranks
/// above one that matches fewer: the tantivy adapter's rule.
pub const PER_TERM: f64 = 1000.0;
/// The longest snippet, in characters (the tantivy adapter's).
pub const SNIPPET_CHARS: u64 = 150;
/// Marks the highlighter puts around a matched word: private-use characters, which the
/// indexed text never holds ([`strip_marks`] takes them out of every document).
pub const PRE: char = '\u{E000}';
/// The end of a matched word.
pub const POST: char = '\u{E001}';

/// The index's settings and mapping: the nine text fields split into words exactly as
/// [`ccaas_domain::search::word_spans`] splits (runs of letters and digits, lower-cased, under
/// 40 bytes; no stemming, no stop words), keyword fields for the filters, and the hit's shown
/// values kept in `_source` only. `dynamic: strict`, so a document of another shape is refused,
/// not silently mapped.
pub fn index_definition() -> Value {
    let mut properties = serde_json::Map::new();
    for field in SEARCH_FIELDS {
        properties.insert(
            field.to_owned(),
            json!({"type": "text", "analyzer": "ccaas_words", "index_options": "offsets"}),
        );
    }
    for field in ["id", "f_user", "f_host", "f_device", "f_status", "f_type"] {
        properties.insert(field.to_owned(), json!({"type": "keyword"}));
    }
    properties.insert("hit".into(), json!({"type": "object", "enabled": false}));
    json!({
        "settings": {
            "analysis": {
                "tokenizer": {
                    // Everything that is not a letter or a digit separates words.
                    "ccaas_split": {"type": "pattern", "pattern": "[^\\p{L}\\p{N}]+"}
                },
                "filter": {
                    // Characters, not bytes: the nearest OpenSearch has to the 40-byte cap.
                    "ccaas_long": {"type": "length", "max": MAX_WORD_BYTES - 1}
                },
                "analyzer": {
                    "ccaas_words": {
                        "type": "custom",
                        "tokenizer": "ccaas_split",
                        "filter": ["lowercase", "ccaas_long"]
                    }
                }
            }
        },
        "mappings": {"dynamic": "strict", "properties": properties}
    })
}

/// `text` without the highlight marks (so a mark in a hit can only be the highlighter's).
pub fn strip_marks(text: &str) -> String {
    text.chars().filter(|&c| c != PRE && c != POST).collect()
}

/// The JSON document of `d`.
pub fn document(d: &SearchDoc) -> Value {
    let mut doc = serde_json::Map::new();
    doc.insert("id".into(), json!(d.id.as_str()));
    for (field, text) in d.texts() {
        doc.insert(field.to_owned(), json!(strip_marks(&text)));
    }
    doc.insert("f_user".into(), json!(d.user));
    doc.insert("f_host".into(), json!(d.host));
    doc.insert("f_device".into(), json!(d.device()));
    doc.insert("f_status".into(), json!(d.status.as_str()));
    doc.insert("f_type".into(), json!(d.task_type.as_str()));
    doc.insert(
        "hit".into(),
        json!({
            "name": d.name, "user": d.user, "device": d.device(),
            "type": d.task_type.as_str(), "status": d.status.as_str(), "created": d.created,
        }),
    );
    Value::Object(doc)
}

/// The NDJSON body of one `_bulk` request that indexes (adds or replaces, by `_id` = task id)
/// every document of `docs`.
pub fn bulk(docs: &[SearchDoc]) -> String {
    let mut body = String::new();
    for d in docs {
        body.push_str(&json!({"index": {"_id": d.id.as_str()}}).to_string());
        body.push('\n');
        body.push_str(&document(d).to_string());
        body.push('\n');
    }
    body
}

/// The first failed item of a `_bulk` response, as `(task id, reason)`; `None` when every item
/// succeeded. Errors: [`OpenSearchError::Response`] when the body is not a bulk response.
pub fn bulk_failure(body: &[u8]) -> Result<Option<(String, String)>, OpenSearchError> {
    let v: Value = serde_json::from_slice(body).map_err(OpenSearchError::Response)?;
    if v.get("errors").and_then(Value::as_bool) != Some(true) {
        return Ok(None);
    }
    let items = v.get("items").and_then(Value::as_array);
    for item in items.into_iter().flatten() {
        let Some(op) = item.get("index") else {
            continue;
        };
        if let Some(error) = op.get("error") {
            let id = op.get("_id").and_then(Value::as_str).unwrap_or_default();
            let reason = error
                .get("reason")
                .and_then(Value::as_str)
                .or_else(|| error.get("type").and_then(Value::as_str))
                .unwrap_or("unknown");
            return Ok(Some((id.to_owned(), reason.to_owned())));
        }
    }
    Ok(Some((String::new(), "errors without a failed item".into())))
}

/// A match of `term` in any text field: a word scores the sum over the fields, as the tantivy
/// adapter's `Should` clauses do; a phrase is its words in order within one field.
fn term_match(term: &Term) -> Value {
    match term {
        Term::Word(w) => json!({"multi_match": {
            "query": w, "fields": SEARCH_FIELDS, "type": "most_fields"
        }}),
        Term::Phrase(words) => json!({"multi_match": {
            "query": words.join(" "), "fields": SEARCH_FIELDS, "type": "phrase"
        }}),
    }
}

/// The `_search` body of `q`: the filters exact `filter` terms (scoring nothing); the free text
/// one `must` of `should` clauses, each term a constant [`PER_TERM`] plus its BM25 score; by
/// score, then newest first (the task id orders tasks by creation); the page by `from`/`size`;
/// the first fragment of each text field highlighted between [`PRE`] and [`POST`].
pub fn search(q: &SearchQuery) -> Value {
    let mut filter = Vec::new();
    if let Some(u) = &q.user {
        filter.push(json!({"term": {"f_user": u}}));
    }
    match (&q.host, q.port) {
        (Some(h), Some(p)) => {
            filter.push(json!({"term": {"f_device": ccaas_app::device_key(h, p)}}));
        }
        (Some(h), None) => filter.push(json!({"term": {"f_host": h}})),
        _ => {}
    }
    if let Some(s) = q.status {
        filter.push(json!({"term": {"f_status": s.as_str()}}));
    }
    if let Some(t) = q.task_type {
        filter.push(json!({"term": {"f_type": t.as_str()}}));
    }
    let mut body = serde_json::Map::new();
    let mut bool_query = serde_json::Map::new();
    bool_query.insert("filter".into(), Value::Array(filter));
    if q.has_text() {
        let should: Vec<Value> = q
            .terms
            .iter()
            .map(|t| {
                let m = term_match(t);
                json!({"bool": {"should": [
                    {"constant_score": {"filter": m, "boost": PER_TERM}},
                    m
                ], "minimum_should_match": 1}})
            })
            .collect();
        bool_query.insert(
            "must".into(),
            json!([{"bool": {"should": should, "minimum_should_match": 1}}]),
        );
        let fields: serde_json::Map<String, Value> = SEARCH_FIELDS
            .iter()
            .map(|f| ((*f).to_owned(), json!({})))
            .collect();
        let marks: Vec<Value> = q.terms.iter().map(term_match).collect();
        body.insert(
            "highlight".into(),
            json!({
                "pre_tags": [PRE.to_string()], "post_tags": [POST.to_string()],
                "fragment_size": SNIPPET_CHARS, "number_of_fragments": 1,
                "no_match_size": 0, "require_field_match": true, "fields": fields,
                // Only the free text is marked, never a filter's value.
                "highlight_query": {"bool": {"should": marks}}
            }),
        );
        body.insert("sort".into(), json!([{"_score": "desc"}, {"id": "desc"}]));
    } else {
        body.insert("sort".into(), json!([{"id": "desc"}]));
    }
    body.insert("query".into(), json!({"bool": bool_query}));
    body.insert("from".into(), json!(q.offset));
    body.insert("size".into(), json!(q.limit));
    body.insert("track_total_hits".into(), json!(true));
    body.insert("track_scores".into(), json!(true));
    body.insert("_source".into(), json!(["hit"]));
    Value::Object(body)
}

/// A highlighted fragment as its text and the byte ranges of the marked words in that text.
pub fn unmark(fragment: &str) -> (String, Vec<(usize, usize)>) {
    let mut text = String::with_capacity(fragment.len());
    let mut spans = Vec::new();
    let mut open: Option<usize> = None;
    for c in fragment.chars() {
        match c {
            PRE => open = Some(text.len()),
            POST => {
                if let Some(start) = open.take()
                    && start < text.len()
                {
                    spans.push((start, text.len()));
                }
            }
            c => text.push(c),
        }
    }
    (text, spans)
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, OpenSearchError> {
    v.get(name).ok_or(OpenSearchError::Shape(name.to_owned()))
}

fn text<'a>(v: &'a Value, name: &str) -> Result<&'a str, OpenSearchError> {
    field(v, name)?
        .as_str()
        .ok_or(OpenSearchError::Shape(name.to_owned()))
}

/// The page of a `_search` response: total, hits (their shown values from `_source.hit`) and
/// each hit's snippet, from the first of [`SEARCH_FIELDS`] that holds a marked word. A
/// response of another shape, or a hit whose values are not a task's, is
/// [`OpenSearchError::Shape`]; never a panic.
pub fn page(body: &[u8]) -> Result<SearchPage, OpenSearchError> {
    let v: Value = serde_json::from_slice(body).map_err(OpenSearchError::Response)?;
    let hits = field(&v, "hits")?;
    let total = field(field(hits, "total")?, "value")?
        .as_u64()
        .ok_or(OpenSearchError::Shape("hits.total.value".into()))?;
    let mut out = Vec::new();
    for h in field(hits, "hits")?
        .as_array()
        .ok_or(OpenSearchError::Shape("hits.hits".into()))?
    {
        let id = TaskId::parse(text(h, "_id")?).ok_or(OpenSearchError::Shape("_id".into()))?;
        let shown = field(field(h, "_source")?, "hit")?;
        let task_type = TaskType::parse(text(shown, "type")?)
            .ok_or(OpenSearchError::Shape("hit.type".into()))?;
        let status = Status::parse(text(shown, "status")?)
            .ok_or(OpenSearchError::Shape("hit.status".into()))?;
        let snippet = h.get("highlight").and_then(|marks| {
            SEARCH_FIELDS.iter().find_map(|f| {
                let fragment = marks.get(*f)?.as_array()?.first()?.as_str()?;
                let (text, highlight) = unmark(fragment);
                (!highlight.is_empty()).then(|| Snippet {
                    field: (*f).to_owned(),
                    text,
                    highlight,
                })
            })
        });
        out.push(SearchHit {
            id,
            name: shown.get("name").and_then(Value::as_str).map(str::to_owned),
            user: text(shown, "user")?.to_owned(),
            device: text(shown, "device")?.to_owned(),
            task_type,
            status,
            created: text(shown, "created")?.to_owned(),
            score: h.get("_score").and_then(Value::as_f64).unwrap_or(0.0) as f32,
            snippet,
        });
    }
    Ok(SearchPage {
        hits: out,
        total: usize::try_from(total).unwrap_or(usize::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> SearchDoc {
        SearchDoc {
            id: TaskId::from_parts(1_764_000_000_000, 7),
            name: Some("Nightly \u{E000}tmm".into()),
            user: "alice".into(),
            host: "127.0.0.1".into(),
            port: 2222,
            task_type: TaskType::CoverageEnd,
            status: Status::Failed,
            modules: vec!["tmm".into(), "mcpd".into()],
            build: Some("17.1.0".into()),
            error_code: Some("no_data".into()),
            error_message: Some("no gcda under /var/gcov".into()),
            log: "tmsh show sys version\n".into(),
            created: "2026-12-05T10:00:00Z".into(),
        }
    }

    fn query(q: &str) -> SearchQuery {
        SearchQuery::parse([("q", q), ("limit", "5")]).expect("a valid query")
    }

    #[test]
    fn a_bulk_body_indexes_each_document_by_its_task_id_with_marks_stripped() {
        let body = bulk(&[doc()]);
        let lines: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["index"]["_id"], doc().id.as_str());
        assert_eq!(lines[1]["name"], "Nightly tmm");
        assert_eq!(lines[1]["error"], "no_data: no gcda under /var/gcov");
        assert_eq!(lines[1]["f_device"], "127.0.0.1:2222");
        assert_eq!(lines[1]["hit"]["type"], "code-coverage-end");
        assert!(body.ends_with('\n'), "a bulk body ends with a newline");
    }

    #[test]
    fn the_mapping_has_every_field_a_document_writes_and_is_strict() {
        let def = index_definition();
        let props = def["mappings"]["properties"]
            .as_object()
            .expect("properties");
        for key in document(&doc()).as_object().expect("object").keys() {
            assert!(props.contains_key(key), "{key} is mapped");
        }
        assert_eq!(def["mappings"]["dynamic"], "strict");
        assert_eq!(
            def["settings"]["analysis"]["filter"]["ccaas_long"]["max"],
            39
        );
    }

    #[test]
    fn filters_are_exact_terms_and_free_words_each_add_a_constant_and_bm25() {
        let b = search(&query(
            r#"nightly "route 10.0.0.1" user:alice device:127.1:2222 status:failed type:code-coverage-end"#,
        ));
        let filter = b["query"]["bool"]["filter"].as_array().expect("filters");
        assert_eq!(
            filter,
            &vec![
                json!({"term": {"f_user": "alice"}}),
                json!({"term": {"f_device": "127.0.0.1:2222"}}),
                json!({"term": {"f_status": "failed"}}),
                json!({"term": {"f_type": "code-coverage-end"}}),
            ]
        );
        let terms = b["query"]["bool"]["must"][0]["bool"]["should"]
            .as_array()
            .expect("terms");
        assert_eq!(terms.len(), 2);
        assert_eq!(
            terms[0]["bool"]["should"][0]["constant_score"]["boost"],
            1000.0
        );
        assert_eq!(
            terms[0]["bool"]["should"][1]["multi_match"]["query"],
            "nightly"
        );
        assert_eq!(
            terms[1]["bool"]["should"][1]["multi_match"]["type"],
            "phrase"
        );
        assert_eq!(
            terms[1]["bool"]["should"][1]["multi_match"]["query"],
            "route 10 0 0 1"
        );
        assert_eq!(b["sort"], json!([{"_score": "desc"}, {"id": "desc"}]));
        assert_eq!((b["from"].clone(), b["size"].clone()), (json!(0), json!(5)));
        assert!(b["highlight"]["highlight_query"].is_object());
    }

    #[test]
    fn a_host_filter_without_a_port_matches_the_host_and_no_text_sorts_newest_first() {
        let b = search(&query("device:localhost"));
        assert_eq!(
            b["query"]["bool"]["filter"],
            json!([{"term": {"f_host": "127.0.0.1"}}])
        );
        assert!(b["query"]["bool"].get("must").is_none());
        assert!(b.get("highlight").is_none());
        assert_eq!(b["sort"], json!([{"id": "desc"}]));
    }

    #[test]
    fn highlight_marks_become_byte_ranges_on_character_boundaries() {
        let (text, spans) = unmark("tmsh \u{E000}zeigé\u{E001} sys \u{E000}version\u{E001}");
        assert_eq!(text, "tmsh zeigé sys version");
        assert_eq!(spans, vec![(5, 11), (16, 23)]);
        assert_eq!(&text[5..11], "zeigé");
        let (text, spans) = unmark("\u{E001}lone\u{E000}\u{E000}");
        assert_eq!((text.as_str(), spans), ("lone", vec![]));
    }

    #[test]
    fn a_search_response_becomes_a_page_with_snippets_from_the_first_marked_field() {
        let id = TaskId::from_parts(1_764_000_000_000, 9);
        let body = json!({"hits": {"total": {"value": 42, "relation": "eq"}, "hits": [{
            "_id": id.as_str(), "_score": 1003.5,
            "_source": {"hit": {"name": null, "user": "bob", "device": "127.0.0.1:22",
                "type": "code-coverage-start", "status": "running", "created": "c"}},
            "highlight": {"log": ["x \u{E000}tmm\u{E001}"], "error": ["\u{E000}gone\u{E001} now"]}
        }]}})
        .to_string();
        let p = page(body.as_bytes()).expect("a page");
        assert_eq!(p.total, 42);
        let h = &p.hits[0];
        assert_eq!(
            (h.id.clone(), h.name.clone(), h.user.as_str()),
            (id, None, "bob")
        );
        assert_eq!(h.status, Status::Running);
        let s = h.snippet.as_ref().expect("a snippet");
        assert_eq!((s.field.as_str(), s.text.as_str()), ("error", "gone now"));
        assert_eq!(s.highlight, vec![(0, 4)]);
        assert!((h.score - 1003.5).abs() < 1e-3);
    }

    #[test]
    fn responses_of_another_shape_are_errors_not_panics() {
        for body in [
            "",
            "[]",
            "{\"hits\":{}}",
            "{\"hits\":{\"total\":{\"value\":1},\"hits\":[{\"_id\":\"nope\"}]}}",
            "{\"hits\":{\"total\":{\"value\":1},\"hits\":[{\"_id\":\"01M8KGNN77WZXS3YCVX8M82WG8\",\"_source\":{\"hit\":{\"type\":\"x\"}}}]}}",
        ] {
            assert!(page(body.as_bytes()).is_err(), "{body:?} is refused");
        }
    }

    #[test]
    fn a_bulk_response_names_its_first_failed_item() {
        let ok = br#"{"took":3,"errors":false,"items":[{"index":{"_id":"a","status":200}}]}"#;
        assert_eq!(bulk_failure(ok).expect("parsed"), None);
        let bad = br#"{"errors":true,"items":[{"index":{"_id":"a","status":200}},{"index":{"_id":"b","status":400,"error":{"type":"strict_dynamic_mapping_exception","reason":"mapping set to strict"}}}]}"#;
        assert_eq!(
            bulk_failure(bad).expect("parsed"),
            Some(("b".into(), "mapping set to strict".into()))
        );
        assert!(bulk_failure(b"<html>").is_err());
    }
}
