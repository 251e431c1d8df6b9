//! The search use case, `GET /v1/search`: full-text search of tasks over the [`TaskSearch`]
//! port; and [`doc_of`], the document a task is indexed as (what the indexers feed the port).

use ccaas_domain::{SearchQuery, Task};

use crate::Error;
use crate::ports::{SearchDoc, TaskSearch};
use crate::view::{SearchHitView, SearchView};

/// The most log text a document holds, in bytes: the log's last 64 KiB (its newest commands
/// and output tails), so one task's document stays small whatever its log.
pub const MAX_LOG_TEXT: usize = 64 * 1024;

/// The document `task` is indexed as, with the text of its command log `log` (the JSON lines
/// of `GET /v1/tasks/{id}/log`): each command, its stdout and its stderr tails, one per line,
/// the last [`MAX_LOG_TEXT`] bytes of them. Lines that are not such objects are skipped.
pub fn doc_of(task: &Task, log: Option<&[u8]>) -> SearchDoc {
    let mut text = String::new();
    for line in log.unwrap_or_default().split(|b| *b == b'\n') {
        let Ok(serde_json::Value::Object(o)) = serde_json::from_slice::<serde_json::Value>(line)
        else {
            continue;
        };
        for key in ["command", "stdout_tail", "stderr_tail"] {
            if let Some(s) = o.get(key).and_then(|v| v.as_str())
                && !s.is_empty()
            {
                text.push_str(s);
                text.push('\n');
            }
        }
    }
    if text.len() > MAX_LOG_TEXT {
        let mut cut = text.len() - MAX_LOG_TEXT;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text.drain(..cut);
    }
    let build = task
        .result
        .as_ref()
        .and_then(|r| r.get("build"))
        .and_then(|b| match b {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => o.get("id").and_then(|i| i.as_str()).map(str::to_owned),
            _ => None,
        });
    SearchDoc {
        id: task.id.clone(),
        name: task.name.clone(),
        user: task.user.clone(),
        host: task.device.clone(),
        port: task.port,
        task_type: task.task_type,
        status: task.status,
        modules: task.modules.iter().map(|m| m.as_str().to_owned()).collect(),
        build,
        error_code: task.error.as_ref().map(|e| e.code.clone()),
        error_message: task.error.as_ref().map(|e| e.message.clone()),
        log: text,
        created: task.created.clone(),
    }
}

/// The documents of the tasks `ids` as stored now, each with its log (a task that no longer
/// exists is left out): what an indexer upserts for a batch of changes. Read-only. Errors:
/// [`Error::Unavailable`] from the task or log store.
pub async fn docs_of<S: crate::TaskStore, L: crate::LogStore>(
    store: &S,
    logs: &L,
    ids: &[ccaas_domain::TaskId],
) -> Result<Vec<SearchDoc>, Error> {
    let mut docs = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(task) = store.get(id).await? {
            let log = logs.read_log(id).await?;
            docs.push(doc_of(&task, log.as_deref()));
        }
    }
    Ok(docs)
}

/// The longest snippet, in bytes (about what tantivy's snippets hold).
pub const SNIPPET_BYTES: usize = 150;

/// A snippet of `text` around the first of the byte ranges `spans` (sorted, not overlapping,
/// on character boundaries): the whole text when it is short, else a window of about
/// [`SNIPPET_BYTES`] that starts a little before the first match; the spans inside it, shifted.
/// The twin's snippets; the tantivy adapter uses tantivy's own.
pub fn window(text: &str, spans: &[(usize, usize)]) -> (String, Vec<(usize, usize)>) {
    if text.len() <= SNIPPET_BYTES || spans.is_empty() {
        let mut end = text.len().min(SNIPPET_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let kept = spans.iter().copied().filter(|&(_, e)| e <= end).collect();
        return (text[..end].to_owned(), kept);
    }
    let mut start = spans[0].0.saturating_sub(20);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + SNIPPET_BYTES).min(text.len()).max(spans[0].1);
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let kept = spans
        .iter()
        .filter(|&&(s, e)| s >= start && e <= end)
        .map(|&(s, e)| (s - start, e - start))
        .collect();
    (text[start..end].to_owned(), kept)
}

/// Searches tasks for the API.
#[derive(Clone, Debug)]
pub struct Search<X> {
    /// The index.
    pub index: X,
    /// The base URL of the hits' task links (empty gives relative links).
    pub base_url: String,
}

impl<X: TaskSearch> Search<X> {
    /// `GET /v1/search` with `q`, `limit` and `cursor`: one page of hits, best first.
    /// Read-only. Errors: [`Error::Invalid`] naming `q`, `limit`, `cursor` or an unknown
    /// parameter; [`Error::Unavailable`]; [`Error::NotConfigured`] where no index is.
    pub async fn search<'a>(
        &self,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<SearchView, Error> {
        let query = SearchQuery::parse(params).map_err(Error::Invalid)?;
        let page = self.index.search(&query).await?;
        let hits: Vec<SearchHitView> = page
            .hits
            .iter()
            .map(|h| SearchHitView::of(h, &self.base_url))
            .collect();
        Ok(SearchView {
            count: hits.len(),
            hits,
            next: query.next_cursor(page.total),
            total: page.total,
        })
    }
}

/// The index of a deployment that has none (the submit Lambda with `CCAAS_SEARCH=none`):
/// every search is [`Error::NotConfigured`] `search_unavailable`, every upsert too.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSearch;

const NO_SEARCH: Error = Error::NotConfigured {
    code: "search_unavailable",
    message: "full-text search is off in this deployment (deployed with SearchBackend=none; \
              see docs/deploy.md, \"Search\"); list tasks with GET /v1/tasks and its filters",
};

impl TaskSearch for NoSearch {
    async fn upsert(&self, _docs: &[SearchDoc]) -> Result<(), Error> {
        Err(NO_SEARCH)
    }

    async fn search(&self, _query: &SearchQuery) -> Result<crate::ports::SearchPage, Error> {
        Err(NO_SEARCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        serde_json::from_value(serde_json::json!({
            "id": "01M8KGNN77WZXS3YCVX8M82WG8", "name": "nightly tmm", "user": "alice",
            "type": "code-coverage-end", "priority": "normal", "status": "failed",
            "version": 2, "created": "2026-11-29T11:22:31.015Z",
            "updated": "2026-11-29T11:22:32.015Z", "device": "10.1.2.3", "port": 22,
            "modules": ["tmm", "mcpd"], "session": null, "flush": "signal",
            "webhook": "https://hooks.example/T/B/secret", "lease_until": null,
            "result": {"build": "17.1.0-0.0.4"},
            "error": {"code": "no_data", "message": "no gcda under /var/gcov"},
        }))
        .expect("a task")
    }

    #[test]
    fn a_document_holds_the_task_s_words_and_the_log_s_commands_and_tails_but_no_webhook() {
        let log = b"{\"at\":\"x\",\"command\":\"tmsh show sys version\",\"exit\":0,\"ms\":3,\"stdout_tail\":\"Version 17.1.0\",\"stderr_tail\":\"\"}\nnot json\n";
        let d = doc_of(&task(), Some(log));
        assert_eq!(d.log, "tmsh show sys version\nVersion 17.1.0\n");
        assert_eq!(d.build.as_deref(), Some("17.1.0-0.0.4"));
        assert_eq!(d.device(), "10.1.2.3:22");
        assert_eq!(d.texts()[1].1, "no_data: no gcda under /var/gcov");
        assert!(!format!("{d:?}").contains("secret"));
    }

    #[test]
    fn a_long_log_keeps_its_last_64_kib_on_a_character_boundary() {
        let line = serde_json::json!({"command": "é".repeat(40_000)}).to_string();
        let log = format!("{line}\n{line}\n");
        let d = doc_of(&task(), Some(log.as_bytes()));
        assert!(d.log.len() <= MAX_LOG_TEXT && d.log.len() > MAX_LOG_TEXT - 4);
        assert!(d.log.ends_with("é\n"));
    }
}
