//! The search twin: documents in a map, matched word by word with the index's own word
//! splitter ([`ccaas_domain::search::word_spans`]); score = how many terms matched.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ccaas_domain::search::{Term, word_spans};
use ccaas_domain::{SearchQuery, TaskId};

use super::lock;
use crate::Error;
use crate::ports::{SearchDoc, SearchHit, SearchPage, Snippet, TaskSearch};

/// Search documents in a map.
#[derive(Clone, Default)]
pub struct MemorySearch {
    inner: Arc<Mutex<BTreeMap<TaskId, SearchDoc>>>,
}

impl MemorySearch {
    /// How many documents it holds.
    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The spans of `term`'s occurrences in a field's words: each word of a word term, each run
/// of a phrase.
fn occurrences(words: &[(usize, usize, String)], term: &Term) -> Vec<(usize, usize)> {
    let want = term.words();
    if want.is_empty() || words.len() < want.len() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for i in 0..=words.len() - want.len() {
        if words[i..i + want.len()]
            .iter()
            .zip(want)
            .all(|(w, t)| w.2 == *t)
        {
            out.extend(words[i..i + want.len()].iter().map(|w| (w.0, w.1)));
        }
    }
    out
}

fn hit(doc: &SearchDoc, query: &SearchQuery) -> Option<SearchHit> {
    let filters = query.user.as_ref().is_none_or(|u| *u == doc.user)
        && query.host.as_ref().is_none_or(|h| *h == doc.host)
        && query.port.is_none_or(|p| p == doc.port)
        && query.status.is_none_or(|s| s == doc.status)
        && query.task_type.is_none_or(|t| t == doc.task_type);
    if !filters {
        return None;
    }
    let texts = doc.texts();
    let fields: Vec<_> = texts.iter().map(|(_, t)| word_spans(t)).collect();
    let matched = query
        .terms
        .iter()
        .filter(|t| fields.iter().any(|w| !occurrences(w, t).is_empty()))
        .count();
    if query.has_text() && matched == 0 {
        return None;
    }
    let snippet = texts.iter().zip(&fields).find_map(|((name, text), words)| {
        let mut spans: Vec<_> = query
            .terms
            .iter()
            .flat_map(|t| occurrences(words, t))
            .collect();
        spans.sort_unstable();
        spans.dedup();
        (!spans.is_empty()).then(|| {
            let (text, highlight) = crate::search::window(text, &spans);
            Snippet {
                field: (*name).to_owned(),
                text,
                highlight,
            }
        })
    });
    Some(SearchHit {
        id: doc.id.clone(),
        name: doc.name.clone(),
        user: doc.user.clone(),
        device: doc.device(),
        task_type: doc.task_type,
        status: doc.status,
        created: doc.created.clone(),
        score: matched as f32,
        snippet,
    })
}

impl TaskSearch for MemorySearch {
    async fn upsert(&self, docs: &[SearchDoc]) -> Result<(), Error> {
        let mut map = lock(&self.inner);
        for d in docs {
            map.insert(d.id.clone(), d.clone());
        }
        Ok(())
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, Error> {
        let map = lock(&self.inner);
        // Newest first (the map is oldest first), then by score: a stable sort keeps the
        // newest first among equal scores.
        let mut hits: Vec<SearchHit> = map.values().rev().filter_map(|d| hit(d, query)).collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        let total = hits.len();
        let hits = hits
            .into_iter()
            .skip(query.offset)
            .take(query.limit)
            .collect();
        Ok(SearchPage { hits, total })
    }
}
