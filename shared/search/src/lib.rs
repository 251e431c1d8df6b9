//! The [`TaskSearch`] port over tantivy: a full-text index of tasks in a directory
//! (docs/design.md, "Search"). Queries are built from the parsed [`SearchQuery`]'s terms, never
//! from user text through tantivy's query language: filters are exact-term `Must` clauses, free
//! words and phrases `Should` clauses over the text fields, ranked by matched terms, then
//! BM25, then newest first.

pub mod replica;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ccaas_app::ports::{SEARCH_FIELDS, SearchDoc, SearchHit, SearchPage, Snippet, TaskSearch};
use ccaas_domain::search::{MAX_WORD_BYTES, Term as QueryTerm};
use ccaas_domain::{SearchQuery, Status, TaskId, TaskType};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Score, Searcher,
    TantivyDocument, Term,
};

/// What can go wrong opening or using the index.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The index directory could not be made or read.
    #[error("the search index directory {path} is unusable")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// tantivy failed.
    #[error("the search index failed")]
    Engine(#[source] tantivy::TantivyError),
    /// A write to an index opened for reading only ([`TantivySearch::open_reader`]).
    #[error("this search index is open for reading only")]
    ReadOnly,
    /// A blocking index task did not finish (it panicked or was cancelled).
    #[error("a search index task did not finish")]
    Task(#[source] tokio::task::JoinError),
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Engine(e)
    }
}

impl From<SearchError> for ccaas_app::Error {
    fn from(e: SearchError) -> Self {
        ccaas_app::Error::Unavailable {
            backend: "search index",
            source: Box::new(e),
        }
    }
}

/// The name the word splitter is registered under.
const ANALYZER: &str = "ccaas_words";
/// The writer's memory budget: tantivy's floor is 15 MB a thread; one thread.
const WRITER_BYTES: usize = 32_000_000;
/// The score every matched term adds on top of BM25, so a hit that matches more terms ranks
/// above one that matches fewer (BM25 of one term in one field stays far below it).
const PER_TERM: Score = 1000.0;
/// The longest snippet, in characters.
const SNIPPET_CHARS: usize = 150;

/// The fields of the schema.
#[derive(Clone, Copy, Debug)]
struct Fields {
    /// The task id, raw: the key of upserts.
    id: Field,
    /// The text fields, in [`SEARCH_FIELDS`] order: tokenised with positions, stored.
    text: [Field; 9],
    /// Exact filters, raw.
    user: Field,
    host: Field,
    device: Field,
    status: Field,
    task_type: Field,
    /// The creation time, Unix ms, fast: the newest-first order.
    created_ms: Field,
    /// The creation time as shown, stored only.
    created: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text_options = TextOptions::default().set_stored().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let id = b.add_text_field("id", STRING | STORED);
    let text = SEARCH_FIELDS.map(|name| b.add_text_field(name, text_options.clone()));
    let fields = Fields {
        id,
        text,
        user: b.add_text_field("f_user", STRING),
        host: b.add_text_field("f_host", STRING),
        device: b.add_text_field("f_device", STRING),
        status: b.add_text_field("f_status", STRING),
        task_type: b.add_text_field("f_type", STRING),
        created_ms: b.add_u64_field("created_ms", FAST | INDEXED),
        created: b.add_text_field("created", STORED),
    };
    (b.build(), fields)
}

/// The word splitter of [`ccaas_domain::search::word_spans`], in tantivy's terms.
fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .filter(LowerCaser)
        .build()
}

struct Inner {
    reader: IndexReader,
    /// `None` for a reader ([`TantivySearch::open_reader`]).
    writer: Option<Mutex<IndexWriter>>,
    f: Fields,
}

/// The full-text index of tasks in one directory: one writer (this process), searches
/// reloaded after every write. Cheap to clone (shared).
#[derive(Clone)]
pub struct TantivySearch {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TantivySearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivySearch").finish_non_exhaustive()
    }
}

impl TantivySearch {
    /// Opens the index in `dir`, creating the directory and an empty index when there is
    /// none. An index of another schema (an older release's) is dropped and made anew: it is
    /// a cache of the tasks table, and the indexer fills it again. Takes the directory's
    /// writer lock: one process writes a directory at a time. Errors: [`SearchError::Dir`],
    /// [`SearchError::Engine`] (also when another process holds the lock).
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        let io = |source| SearchError::Dir {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let (schema, f) = schema();
        let index = match Index::open_in_dir(dir) {
            Ok(index) if index.schema() == schema => index,
            Ok(_) => {
                tracing::warn!(dir = %dir.display(), "the search index has another schema: rebuilding it");
                std::fs::remove_dir_all(dir).map_err(io)?;
                std::fs::create_dir_all(dir).map_err(io)?;
                Index::create_in_dir(dir, schema)?
            }
            Err(tantivy::TantivyError::OpenDirectoryError(_))
            | Err(tantivy::TantivyError::OpenReadError(_)) => Index::create_in_dir(dir, schema)?,
            Err(e) => return Err(e.into()),
        };
        index.tokenizers().register(ANALYZER, analyzer());
        let writer = index.writer_with_num_threads(1, WRITER_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(TantivySearch {
            inner: Arc::new(Inner {
                reader,
                writer: Some(Mutex::new(writer)),
                f,
            }),
        })
    }

    /// Opens the index in `dir` for reading only: no writer lock, so any number of readers
    /// may open a directory that a replica pull ([`replica::pull`]) keeps current; call
    /// [`TantivySearch::reload`] after each pull. Upserts fail with
    /// [`SearchError::ReadOnly`]. Errors: [`SearchError::Engine`] when `dir` holds no index,
    /// or one of another schema.
    pub fn open_reader(dir: &Path) -> Result<Self, SearchError> {
        let (schema, f) = schema();
        let index = Index::open_in_dir(dir)?;
        if index.schema() != schema {
            return Err(SearchError::Engine(tantivy::TantivyError::SchemaError(
                "the index has another schema than this release's".into(),
            )));
        }
        index.tokenizers().register(ANALYZER, analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(TantivySearch {
            inner: Arc::new(Inner {
                reader,
                writer: None,
                f,
            }),
        })
    }

    /// Makes searches see the directory's last commit (after a replica pull). Errors:
    /// [`SearchError::Engine`].
    pub fn reload(&self) -> Result<(), SearchError> {
        Ok(self.inner.reader.reload()?)
    }

    /// How many documents the index holds (the last committed state). Read-only.
    pub fn len(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn upsert(&self, docs: &[SearchDoc]) -> Result<(), SearchError> {
        let writer = self.writer.as_ref().ok_or(SearchError::ReadOnly)?;
        let mut writer = writer.lock().unwrap_or_else(|p| p.into_inner());
        for d in docs {
            writer.delete_term(Term::from_field_text(self.f.id, d.id.as_str()));
            writer.add_document(self.document(d))?;
        }
        writer.commit()?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    fn document(&self, d: &SearchDoc) -> TantivyDocument {
        let f = &self.f;
        let mut doc = TantivyDocument::new();
        doc.add_text(f.id, d.id.as_str());
        for (field, (_, text)) in f.text.iter().zip(d.texts()) {
            doc.add_text(*field, text);
        }
        doc.add_text(f.user, &d.user);
        doc.add_text(f.host, &d.host);
        doc.add_text(f.device, d.device());
        doc.add_text(f.status, d.status.as_str());
        doc.add_text(f.task_type, d.task_type.as_str());
        doc.add_u64(f.created_ms, d.id.unix_ms());
        doc.add_text(f.created, &d.created);
        doc
    }

    /// The query: every filter a `Must` exact term (scoring nothing), and the free text a
    /// `Must` over its terms as `Should` clauses, each term a match in any text field.
    fn query(&self, q: &SearchQuery) -> Box<dyn Query> {
        let f = &self.f;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let exact = |field: Field, value: &str| -> (Occur, Box<dyn Query>) {
            let t = TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            );
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(t), 0.0)),
            )
        };
        if let Some(u) = &q.user {
            must.push(exact(f.user, u));
        }
        match (&q.host, q.port) {
            (Some(h), Some(p)) => must.push(exact(f.device, &ccaas_app::device_key(h, p))),
            (Some(h), None) => must.push(exact(f.host, h)),
            _ => {}
        }
        if let Some(s) = q.status {
            must.push(exact(f.status, s.as_str()));
        }
        if let Some(t) = q.task_type {
            must.push(exact(f.task_type, t.as_str()));
        }
        if q.has_text() {
            let terms: Vec<(Occur, Box<dyn Query>)> = q
                .terms
                .iter()
                .map(|term| {
                    let any_field: Vec<(Occur, Box<dyn Query>)> = f
                        .text
                        .iter()
                        .map(|&field| (Occur::Should, self.term_in(field, term)))
                        .collect();
                    let any_field = BooleanQuery::new(any_field);
                    // A fixed score per matched term (more terms rank first), plus BM25.
                    let counted: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
                        (
                            Occur::Should,
                            Box::new(ConstScoreQuery::new(Box::new(any_field.clone()), PER_TERM)),
                        ),
                        (Occur::Should, Box::new(any_field)),
                    ]));
                    (Occur::Should, counted)
                })
                .collect();
            must.push((Occur::Must, Box::new(BooleanQuery::new(terms))));
        }
        if must.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(must))
        }
    }

    fn term_in(&self, field: Field, term: &QueryTerm) -> Box<dyn Query> {
        match term {
            QueryTerm::Word(w) => Box::new(TermQuery::new(
                Term::from_field_text(field, w),
                IndexRecordOption::WithFreqs,
            )),
            QueryTerm::Phrase(words) => Box::new(PhraseQuery::new(
                words
                    .iter()
                    .map(|w| Term::from_field_text(field, w))
                    .collect(),
            )),
        }
    }

    fn search(&self, q: &SearchQuery) -> Result<SearchPage, SearchError> {
        let searcher = self.reader.searcher();
        let query = self.query(q);
        let top = TopDocs::with_limit(q.limit.max(1)).and_offset(q.offset);
        let (total, found): (usize, Vec<(Score, DocAddress)>) = if q.has_text() {
            let created = self.f.created_ms;
            let ranked = top.tweak_score(move |segment: &tantivy::SegmentReader| {
                let name = segment.schema().get_field_name(created).to_owned();
                let column = segment
                    .fast_fields()
                    .u64(&name)
                    .ok()
                    .map(|c| c.first_or_default_col(0));
                move |doc: tantivy::DocId, score: Score| {
                    (score, column.as_ref().map(|c| c.get_val(doc)).unwrap_or(0))
                }
            });
            let (total, docs) = searcher.search(&query, &(Count, ranked))?;
            (total, docs.into_iter().map(|((s, _), a)| (s, a)).collect())
        } else {
            let newest = top.order_by_fast_field::<u64>("created_ms", Order::Desc);
            let (total, docs) = searcher.search(&query, &(Count, newest))?;
            (total, docs.into_iter().map(|(_, a)| (0.0, a)).collect())
        };
        let snippets = if q.has_text() {
            self.generators(&searcher, query.as_ref())?
        } else {
            Vec::new()
        };
        let mut hits = Vec::with_capacity(found.len());
        for (score, address) in found {
            let doc: TantivyDocument = searcher.doc(address)?;
            if let Some(hit) = self.hit(&doc, score, &snippets) {
                hits.push(hit);
            }
        }
        Ok(SearchPage { hits, total })
    }

    /// A snippet generator per text field, in [`SEARCH_FIELDS`] order.
    fn generators(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
    ) -> Result<Vec<(usize, SnippetGenerator)>, SearchError> {
        let mut out = Vec::new();
        for (i, &field) in self.f.text.iter().enumerate() {
            let mut g = SnippetGenerator::create(searcher, query, field)?;
            g.set_max_num_chars(SNIPPET_CHARS);
            out.push((i, g));
        }
        Ok(out)
    }

    fn hit(
        &self,
        doc: &TantivyDocument,
        score: Score,
        snippets: &[(usize, SnippetGenerator)],
    ) -> Option<SearchHit> {
        let f = &self.f;
        let text = |field: Field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let id = TaskId::parse(&text(f.id)?)?;
        let [name, _, _, _, _, user, device, task_type, status] = f.text;
        let snippet = snippets.iter().find_map(|(i, g)| {
            let s = g.snippet_from_doc(doc);
            (!s.highlighted().is_empty()).then(|| Snippet {
                field: SEARCH_FIELDS[*i].to_owned(),
                text: s.fragment().to_owned(),
                highlight: s.highlighted().iter().map(|r| (r.start, r.end)).collect(),
            })
        });
        Some(SearchHit {
            id,
            name: text(name).filter(|n| !n.is_empty()),
            user: text(user)?,
            device: text(device)?,
            task_type: TaskType::parse(&text(task_type)?)?,
            status: Status::parse(&text(status)?)?,
            created: text(f.created).unwrap_or_default(),
            score,
            snippet,
        })
    }
}

impl TaskSearch for TantivySearch {
    async fn upsert(&self, docs: &[SearchDoc]) -> Result<(), ccaas_app::Error> {
        if docs.is_empty() {
            return Ok(());
        }
        let inner = self.inner.clone();
        let docs = docs.to_vec();
        tokio::task::spawn_blocking(move || inner.upsert(&docs))
            .await
            .map_err(SearchError::Task)??;
        Ok(())
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, ccaas_app::Error> {
        let inner = self.inner.clone();
        let query = query.clone();
        Ok(tokio::task::spawn_blocking(move || inner.search(&query))
            .await
            .map_err(SearchError::Task)??)
    }
}
