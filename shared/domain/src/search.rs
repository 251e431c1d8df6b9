//! `GET /v1/search` query parameters, validated: free words, `"quoted phrases"` and the field
//! filters `user:`, `device:`, `status:` and `type:`, with a page size and a cursor; and the
//! one word splitter that both the index and the query use.

use crate::device::{DeviceHost, DeviceKey};
use crate::submission::{FieldError, check_user};
use crate::task::{Status, TaskType};

/// The longest `q`, in bytes.
pub const MAX_Q_BYTES: usize = 512;
/// The most terms in one `q`: each free word, each word of a phrase and each filter counts one.
pub const MAX_TERMS: usize = 16;
/// The largest page.
pub const MAX_SEARCH_LIMIT: usize = 100;
/// The page size when none is given.
pub const DEFAULT_SEARCH_LIMIT: usize = 20;
/// How deep paging goes: no page starts at or past this many hits (a cursor's offset is below
/// it). Deeper pages would cost the index ever more per page; narrow the query instead.
pub const MAX_SEARCH_DEPTH: usize = 10_000;
/// Words of this many bytes or more are not indexed (nor searched): hashes, base64 and
/// other blobs in a log are no words.
pub const MAX_WORD_BYTES: usize = 40;
/// The longest cursor.
const MAX_CURSOR_BYTES: usize = 64;

/// The words of `text` with their byte spans: maximal runs of alphanumeric characters
/// (Unicode), lower-cased, shorter than [`MAX_WORD_BYTES`]. The index splits text exactly so
/// (tantivy's `SimpleTokenizer`, `RemoveLongFilter` and `LowerCaser`), so a query word
/// matches what it should.
pub fn word_spans(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s < MAX_WORD_BYTES {
                    out.push((s, i, text[s..i].to_lowercase()));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// The words of `text` ([`word_spans`] without the spans).
pub fn words(text: &str) -> Vec<String> {
    word_spans(text).into_iter().map(|(_, _, w)| w).collect()
}

/// One term of the free text: a word, or a phrase of two or more words that must appear one
/// after another in one field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Term {
    /// A single word, lower-cased.
    Word(String),
    /// Two or more words in this order.
    Phrase(Vec<String>),
}

impl Term {
    /// How many words it holds (what [`MAX_TERMS`] counts).
    pub fn len(&self) -> usize {
        match self {
            Term::Word(_) => 1,
            Term::Phrase(w) => w.len(),
        }
    }

    /// Never empty: a phrase has two or more words.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Its words.
    pub fn words(&self) -> &[String] {
        match self {
            Term::Word(w) => std::slice::from_ref(w),
            Term::Phrase(w) => w,
        }
    }

    /// The term made of `words`: none for no words, a word for one, else a phrase.
    fn of(mut words: Vec<String>) -> Option<Term> {
        match words.len() {
            0 => None,
            1 => words.pop().map(Term::Word),
            _ => Some(Term::Phrase(words)),
        }
    }
}

/// A validated search. Behind the `openapi` feature it also gives the OpenAPI document the
/// query parameters of `GET /v1/search`, all optional.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct SearchQuery {
    /// What to look for, up to 512 bytes and 16 terms: free words (any may match; more
    /// matches rank higher), `"quoted phrases"` (their words in order), and the filters
    /// `user:NAME`, `device:HOST` or `device:HOST:PORT`, `status:STATUS` and `type:TYPE`
    /// (each at most once; all must hold). Empty: every task, newest first.
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, max_length = 512))]
    pub q: String,
    /// The free text, in order, without repeats.
    #[cfg_attr(feature = "openapi", param(ignore))]
    pub terms: Vec<Term>,
    /// Only tasks of this user.
    #[cfg_attr(feature = "openapi", param(ignore))]
    pub user: Option<String>,
    /// Only tasks on this host (canonical, as tasks store it).
    #[cfg_attr(feature = "openapi", param(ignore))]
    pub host: Option<String>,
    /// And on this port, when `device:` named one.
    #[cfg_attr(feature = "openapi", param(ignore))]
    pub port: Option<u16>,
    /// Only tasks in this status.
    #[cfg_attr(feature = "openapi", param(ignore))]
    pub status: Option<Status>,
    /// Only tasks of this type.
    #[cfg_attr(feature = "openapi", param(ignore))]
    pub task_type: Option<TaskType>,
    /// Page size: 1 to 100, 20 by default.
    #[cfg_attr(
        feature = "openapi",
        param(required = false, minimum = 1, maximum = 100, default = 20)
    )]
    pub limit: usize,
    /// The cursor of the previous page (its `next`), made for this same `q`.
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, min_length = 1, max_length = 64))]
    pub cursor: Option<String>,
    /// Where this page starts among the hits (from the cursor; 0 without one).
    #[cfg_attr(feature = "openapi", param(ignore))]
    pub offset: usize,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            q: String::new(),
            terms: Vec::new(),
            user: None,
            host: None,
            port: None,
            status: None,
            task_type: None,
            limit: DEFAULT_SEARCH_LIMIT,
            cursor: None,
            offset: 0,
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        code: "invalid_field",
        field: field.to_owned(),
        message: message.into(),
    }
}

/// `s` cut to `n` characters with escapes, fit to quote in a message.
fn quoted(s: &str, n: usize) -> String {
    s.chars().take(n).flat_map(char::escape_default).collect()
}

impl SearchQuery {
    /// Parses query parameters (already percent-decoded): `q`, `limit` and `cursor`. Any other
    /// parameter is an `unknown_field` error naming it; every bad value an `invalid_field`
    /// error naming `q`, `limit` or `cursor`. Never panics, whatever the input.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FieldError> {
        let mut query = SearchQuery::default();
        let mut cursor = None;
        for (k, v) in params {
            match k {
                "q" => query.parse_q(v)?,
                "limit" => {
                    query.limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_SEARCH_LIMIT).contains(n))
                        .ok_or_else(|| invalid("limit", "must be an integer from 1 to 100"))?
                }
                "cursor" => cursor = Some(v),
                other => {
                    let field = quoted(other, 64);
                    return Err(FieldError {
                        code: "unknown_field",
                        message: format!("{field} is not a known query parameter"),
                        field,
                    });
                }
            }
        }
        if let Some(c) = cursor {
            query.offset = query.offset_of(c)?;
            query.cursor = Some(c.to_owned());
        }
        Ok(query)
    }

    fn parse_q(&mut self, q: &str) -> Result<(), FieldError> {
        if q.len() > MAX_Q_BYTES {
            return Err(invalid(
                "q",
                format!("is {} bytes; the limit is {MAX_Q_BYTES}", q.len()),
            ));
        }
        *self = SearchQuery {
            limit: self.limit,
            ..SearchQuery::default()
        };
        self.q = q.to_owned();
        let mut rest = q;
        let mut count = 0usize;
        loop {
            rest = rest.trim_start();
            let Some(first) = rest.chars().next() else {
                break;
            };
            let term = if first == '"' {
                let body = &rest[1..];
                let Some(end) = body.find('"') else {
                    return Err(invalid("q", "has a quote without its closing quote"));
                };
                rest = &body[end + 1..];
                Term::of(words(&body[..end]))
            } else {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"')
                    .unwrap_or(rest.len());
                let token = &rest[..end];
                rest = &rest[end..];
                if self.filter(token)? {
                    count += 1;
                    None
                } else {
                    Term::of(words(token))
                }
            };
            if let Some(t) = term
                && !self.terms.contains(&t)
            {
                count += t.len();
                self.terms.push(t);
            }
            if count > MAX_TERMS {
                return Err(invalid(
                    "q",
                    format!(
                        "has more than {MAX_TERMS} terms (each word, word of a phrase and filter counts one)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Takes `token` as a filter when it is one (`name:value` with a known name), answering
    /// whether it was. A token that looks like a filter of another name (letters, then `:`)
    /// is an error rather than words, so a typo (`stauts:failed`) is not searched as text.
    fn filter(&mut self, token: &str) -> Result<bool, FieldError> {
        let Some((name, value)) = token.split_once(':') else {
            return Ok(false);
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Ok(false);
        }
        let name = name.to_ascii_lowercase();
        let twice = |name: &str| invalid("q", format!("has the filter {name}: more than once"));
        match name.as_str() {
            "user" => {
                check_user(value).map_err(|_| {
                    invalid(
                        "q",
                        "user: must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-', '@'",
                    )
                })?;
                if self.user.replace(value.to_owned()).is_some() {
                    return Err(twice("user"));
                }
            }
            "device" => {
                // Canonical, as tasks store it and as the task list's `device` filter takes it.
                let (host, port) = match DeviceKey::parse(value) {
                    Ok(k) => (k.host, Some(k.port)),
                    Err(_) => (
                        DeviceHost::parse(value).map_err(|_| {
                            invalid(
                                "q",
                                "device: must be host:port ([address]:port for IPv6) or a host name or IP",
                            )
                        })?,
                        None,
                    ),
                };
                if self.host.replace(host.to_string()).is_some() {
                    return Err(twice("device"));
                }
                self.port = port;
            }
            "status" => {
                let s = Status::parse(value).ok_or_else(|| {
                    invalid("q", "status: must be pending, running, succeeded or failed")
                })?;
                if self.status.replace(s).is_some() {
                    return Err(twice("status"));
                }
            }
            "type" => {
                let t = TaskType::parse(value).ok_or_else(|| {
                    invalid(
                        "q",
                        "type: must be code-coverage-start, code-coverage-end, code-coverage-discard or code-coverage-merge",
                    )
                })?;
                if self.task_type.replace(t).is_some() {
                    return Err(twice("type"));
                }
            }
            other => {
                return Err(invalid(
                    "q",
                    format!(
                        "{}: is not a filter (user:, device:, status:, type:); put text with a colon in quotes",
                        quoted(other, 32)
                    ),
                ));
            }
        }
        Ok(true)
    }

    /// The query as one canonical string (terms and filters, not the page), which cursors
    /// are bound to: a cursor of another query is refused rather than continued.
    pub fn key(&self) -> String {
        let mut key = String::new();
        for t in &self.terms {
            key.push_str(&t.words().join(" "));
            key.push('|');
        }
        key.push_str(&format!(
            "/{}/{}/{}/{}/{}",
            self.user.as_deref().unwrap_or(""),
            self.host.as_deref().unwrap_or(""),
            self.port.map(|p| p.to_string()).unwrap_or_default(),
            self.status.map(|s| s.as_str()).unwrap_or(""),
            self.task_type.map(|t| t.as_str()).unwrap_or(""),
        ));
        key
    }

    /// The cursor of the page that starts at hit `offset` of this query.
    pub fn cursor_at(&self, offset: usize) -> String {
        format!("{offset}.{:016x}", fnv1a(self.key().as_bytes()))
    }

    /// The cursor of the page after this one, when `total` hits match and that page starts
    /// within [`MAX_SEARCH_DEPTH`]; `None` otherwise.
    pub fn next_cursor(&self, total: usize) -> Option<String> {
        let next = self.offset.saturating_add(self.limit);
        (next < total && next < MAX_SEARCH_DEPTH).then(|| self.cursor_at(next))
    }

    /// The offset a cursor of this query holds.
    fn offset_of(&self, cursor: &str) -> Result<usize, FieldError> {
        let bad = || invalid("cursor", "is not a cursor of this query (send the same q)");
        if cursor.is_empty() || cursor.len() > MAX_CURSOR_BYTES {
            return Err(bad());
        }
        let (offset, _) = cursor.split_once('.').ok_or_else(bad)?;
        let offset: usize = offset.parse().map_err(|_| bad())?;
        if offset >= MAX_SEARCH_DEPTH || self.cursor_at(offset) != cursor {
            return Err(bad());
        }
        Ok(offset)
    }

    /// Whether the query has free text (else it lists the filters' tasks newest first).
    pub fn has_text(&self) -> bool {
        !self.terms.is_empty()
    }
}

/// FNV-1a, 64 bits: a stable, dependency-free hash (not a secret; it only binds a cursor to
/// its query).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Result<SearchQuery, FieldError> {
        SearchQuery::parse([("q", text)])
    }

    #[test]
    fn words_are_alphanumeric_runs_lower_cased_and_long_blobs_are_dropped() {
        assert_eq!(
            words("Auth_failed: tmm@Host-1 ÄÖ 10.0.0.1:22"),
            [
                "auth", "failed", "tmm", "host", "1", "äö", "10", "0", "0", "1", "22"
            ]
        );
        let blob = "a".repeat(MAX_WORD_BYTES);
        assert_eq!(words(&format!("x {blob} y")), ["x", "y"]);
        assert_eq!(word_spans("  Hi!"), [(2, 4, "hi".to_owned())]);
        assert!(words("").is_empty());
    }

    #[test]
    fn free_words_phrases_and_filters_are_told_apart() {
        let s = q(r#"nightly "route 10.0.0.1" user:alice device:127.1:2222 status:failed type:code-coverage-end Nightly"#)
            .expect("valid");
        assert_eq!(
            s.terms,
            [
                Term::Word("nightly".into()),
                Term::Phrase(vec![
                    "route".into(),
                    "10".into(),
                    "0".into(),
                    "0".into(),
                    "1".into()
                ]),
            ]
        );
        assert_eq!(s.user.as_deref(), Some("alice"));
        assert_eq!((s.host.as_deref(), s.port), (Some("127.0.0.1"), Some(2222)));
        assert_eq!(s.status, Some(Status::Failed));
        assert_eq!(s.task_type, Some(TaskType::CoverageEnd));
        assert_eq!((s.limit, s.offset), (DEFAULT_SEARCH_LIMIT, 0));
        // A word of several parts is a phrase; a quoted single word is a word.
        let s = q(r#"auth_failed "tmm""#).expect("valid");
        assert_eq!(
            s.terms,
            [
                Term::Phrase(vec!["auth".into(), "failed".into()]),
                Term::Word("tmm".into())
            ]
        );
        // A host alone filters every port of it, in any spelling.
        let s = q("device:LOCALHOST.").expect("valid");
        assert_eq!((s.host.as_deref(), s.port), (Some("127.0.0.1"), None));
        // An empty query lists everything.
        let s = SearchQuery::parse([]).expect("valid");
        assert!(!s.has_text() && s.user.is_none());
        // Text with a colon that is no filter name stays text.
        let s = q("10.0.0.1:22").expect("valid");
        assert_eq!(s.terms.len(), 1);
    }

    #[test]
    fn every_bad_query_is_a_field_error_naming_q_limit_or_cursor() {
        for (params, field) in [
            (vec![("q", "\"open")], "q"),
            (vec![("q", "stauts:failed")], "q"),
            (vec![("q", "status:done")], "q"),
            (vec![("q", "type:start")], "q"),
            (vec![("q", "user:")], "q"),
            (vec![("q", "user:a b user:c")], "q"),
            (vec![("q", "device:a/b")], "q"),
            (vec![("q", "device:127.0.0.1:0")], "q"),
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "101")], "limit"),
            (vec![("limit", "x")], "limit"),
            (vec![("cursor", "")], "cursor"),
            (vec![("cursor", "20")], "cursor"),
            (vec![("cursor", "abc.def")], "cursor"),
        ] {
            let e = SearchQuery::parse(params.clone()).unwrap_err();
            assert_eq!(
                (e.code, e.field.as_str()),
                ("invalid_field", field),
                "{params:?}"
            );
        }
        let e = SearchQuery::parse([("sort", "x")]).unwrap_err();
        assert_eq!((e.code, e.field.as_str()), ("unknown_field", "sort"));
    }

    #[test]
    fn q_is_capped_in_bytes_and_in_terms() {
        let long = "a ".repeat(MAX_Q_BYTES / 2 + 1);
        assert_eq!(q(&long).unwrap_err().field, "q");
        let words16: Vec<String> = (0..16).map(|i| format!("w{i}")).collect();
        assert!(q(&words16.join(" ")).is_ok());
        let e = q(&format!("{} w16", words16.join(" "))).unwrap_err();
        assert!(e.message.contains("16 terms"), "{}", e.message);
        // Repeats count once; filters count too.
        assert!(q(&format!("{} w0 w0", words16.join(" "))).is_ok());
        assert_eq!(
            q(&format!("{} user:bob", words16.join(" ")))
                .unwrap_err()
                .field,
            "q"
        );
        // Nothing a fuzzer sends panics.
        for s in [
            "\"",
            "\"\"",
            ":",
            "::",
            "a:",
            "\u{0}:x",
            "é:x",
            "\"a\"\"b",
            "user:\"x\"",
        ] {
            let _ = q(s);
        }
    }

    #[test]
    fn a_cursor_continues_its_own_query_only_and_paging_stops_at_the_depth_cap() {
        let first = SearchQuery::parse([("q", "tmm user:bob"), ("limit", "10")]).unwrap();
        let next = first.next_cursor(25).expect("a second page");
        let second = SearchQuery::parse([("cursor", next.as_str()), ("q", "tmm user:bob")])
            .expect("the cursor of this query");
        assert_eq!(second.offset, 10);
        let e = SearchQuery::parse([("q", "tmm user:eve"), ("cursor", next.as_str())]).unwrap_err();
        assert_eq!(e.field, "cursor");
        // The last page has no next; nor has a page whose successor would start past the cap.
        assert_eq!(
            SearchQuery {
                offset: 20,
                limit: 10,
                ..first.clone()
            }
            .next_cursor(25),
            None
        );
        let deep = SearchQuery {
            offset: MAX_SEARCH_DEPTH - 100,
            limit: 100,
            ..first.clone()
        };
        assert_eq!(deep.next_cursor(usize::MAX), None);
        let beyond = first.cursor_at(MAX_SEARCH_DEPTH);
        let e =
            SearchQuery::parse([("q", "tmm user:bob"), ("cursor", beyond.as_str())]).unwrap_err();
        assert_eq!(e.field, "cursor");
    }

    proptest::proptest! {
        #[test]
        fn no_query_string_panics_and_an_accepted_one_stays_within_the_caps(
            q in "[ a-zA-Z0-9:\"._@\\-\\[\\]\u{e9}\u{0}]{0,600}",
            limit in proptest::option::of("[0-9x]{0,4}"),
            cursor in proptest::option::of("[0-9a-f.]{0,70}"),
        ) {
            let mut params = vec![("q", q.as_str())];
            if let Some(l) = &limit {
                params.push(("limit", l.as_str()));
            }
            if let Some(c) = &cursor {
                params.push(("cursor", c.as_str()));
            }
            match SearchQuery::parse(params) {
                Ok(s) => {
                    let terms: usize = s.terms.iter().map(Term::len).sum();
                    proptest::prop_assert!(terms <= MAX_TERMS);
                    proptest::prop_assert!(q.len() <= MAX_Q_BYTES);
                    proptest::prop_assert!((1..=MAX_SEARCH_LIMIT).contains(&s.limit));
                    proptest::prop_assert!(s.offset < MAX_SEARCH_DEPTH);
                    proptest::prop_assert!(s.terms.iter().all(|t| t.words().iter().all(|w| !w.is_empty() && w.len() < MAX_WORD_BYTES)));
                }
                Err(e) => proptest::prop_assert!(["q", "limit", "cursor"].contains(&e.field.as_str())),
            }
        }
    }
}
