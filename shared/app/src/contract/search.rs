//! The [`TaskSearch`] contract: a task is found by a word of its name, of its error message
//! and of its log, with a snippet holding the word; filters hold; an upsert replaces (one hit
//! per task) and a new status is searchable; more matched terms rank first, then newer; a
//! phrase matches its words in order; paging shows every hit once. Every check runs under
//! its own fresh user, so a shared index is fine.

use ccaas_domain::{SearchQuery, Status, TaskId, TaskType};

use super::{fail, fresh_token, ok, same};
use crate::ports::{SearchDoc, SearchPage, TaskSearch};

/// A word no other run uses (letters and digits only, so it is one word).
fn word() -> String {
    format!("w{}", fresh_token())
}

/// A task id at `ms` (ids order tasks by creation time).
fn id_at(ms: u64) -> TaskId {
    TaskId::from_parts(ms, rand::random::<u128>() >> 48)
}

/// A plain succeeded document of `user` named `name`, created at `ms`.
fn doc(user: &str, name: &str, ms: u64) -> SearchDoc {
    SearchDoc {
        id: id_at(ms),
        name: Some(name.to_owned()),
        user: user.to_owned(),
        host: "10.9.8.7".into(),
        port: 22,
        task_type: TaskType::CoverageEnd,
        status: Status::Succeeded,
        modules: vec!["tmm".into()],
        build: None,
        error_code: None,
        error_message: None,
        log: String::new(),
        created: crate::now_ms().to_string(),
        // (created is shown, never ordered by: the id orders)
    }
}

async fn search<X: TaskSearch>(index: &X, check: &str, params: &[(&str, &str)]) -> SearchPage {
    let q = ok(
        check,
        "parse the query",
        SearchQuery::parse(params.iter().copied()),
    );
    ok(check, "search", index.search(&q).await)
}

fn ids(page: &SearchPage) -> Vec<TaskId> {
    page.hits.iter().map(|h| h.id.clone()).collect()
}

/// Runs every check on `index`.
pub async fn run<X: TaskSearch>(index: &X) {
    found_by_name_error_and_log_with_a_snippet(index).await;
    filters_hold(index).await;
    an_upsert_replaces_and_a_new_status_is_searchable(index).await;
    more_matched_terms_rank_first_then_newer(index).await;
    a_phrase_matches_its_words_in_order(index).await;
    paging_shows_every_hit_once(index).await;
}

async fn found_by_name_error_and_log_with_a_snippet<X: TaskSearch>(index: &X) {
    let c = "a task is found by a word of its name, its error message and its log, with a snippet";
    let user = word();
    let (in_name, in_error, in_log) = (word(), word(), word());
    let mut d = doc(
        &user,
        &format!("Nightly {} suite", in_name.to_uppercase()),
        crate::now_ms(),
    );
    d.status = Status::Failed;
    d.error_code = Some("no_data".into());
    d.error_message = Some(format!("the daemon {in_error} wrote no counters"));
    d.log = format!(
        "{}\ntmsh show sys {in_log} version\n{}\n",
        "filler ".repeat(60),
        "more ".repeat(60)
    );
    ok(c, "upsert", index.upsert(std::slice::from_ref(&d)).await);
    for (w, field) in [(&in_name, "name"), (&in_error, "error"), (&in_log, "log")] {
        let page = search(index, c, &[("q", w.as_str())]).await;
        same(
            c,
            &format!("hits for a word of the {field}"),
            ids(&page),
            vec![d.id.clone()],
        );
        same(c, "total", page.total, 1);
        let hit = &page.hits[0];
        same(c, "user", hit.user.as_str(), user.as_str());
        same(c, "device", hit.device.as_str(), "10.9.8.7:22");
        same(c, "status", hit.status, Status::Failed);
        let Some(s) = &hit.snippet else {
            fail(c, format!("no snippet for a word of the {field}"))
        };
        same(c, "snippet field", s.field.as_str(), field);
        if s.highlight.is_empty() {
            fail(c, format!("nothing highlighted in {s:?}"));
        }
        for &(start, end) in &s.highlight {
            let Some(marked) = s.text.get(start..end) else {
                fail(
                    c,
                    format!("highlight {start}..{end} is not within {:?}", s.text),
                )
            };
            same(c, "the highlighted word", marked.to_lowercase(), w.clone());
        }
    }
    // Upper case in the query finds the lower-cased word.
    let page = search(index, c, &[("q", &in_error.to_uppercase())]).await;
    same(c, "a word in upper case", ids(&page), vec![d.id.clone()]);
    let page = search(index, c, &[("q", &word())]).await;
    same(c, "a word of no task", page.total, 0);
}

async fn filters_hold<X: TaskSearch>(index: &X) {
    let c = "the filters user:, device:, status: and type: hold";
    let (alice, bob, w) = (word(), word(), word());
    let now = crate::now_ms();
    let a = doc(&alice, &format!("run {w}"), now);
    let mut b = doc(&bob, &format!("run {w}"), now + 1);
    b.host = "fd00::5".into();
    b.port = 830;
    b.status = Status::Pending;
    b.task_type = TaskType::CoverageStart;
    ok(c, "upsert", index.upsert(&[a.clone(), b.clone()]).await);
    let q = |f: &str| format!("{w} {f}");
    same(
        c,
        "word alone",
        ids(&search(index, c, &[("q", &w)]).await),
        vec![b.id.clone(), a.id.clone()],
    );
    same(
        c,
        "user: alice",
        ids(&search(index, c, &[("q", &q(&format!("user:{alice}")))]).await),
        vec![a.id.clone()],
    );
    same(
        c,
        "user: bob",
        ids(&search(index, c, &[("q", &q(&format!("user:{bob}")))]).await),
        vec![b.id.clone()],
    );
    same(
        c,
        "device host",
        ids(&search(index, c, &[("q", &q("device:FD00::5"))]).await),
        vec![b.id.clone()],
    );
    same(
        c,
        "device key",
        ids(&search(index, c, &[("q", &q("device:[fd00::5]:830"))]).await),
        vec![b.id.clone()],
    );
    same(
        c,
        "device other port",
        search(index, c, &[("q", &q("device:[fd00::5]:22"))])
            .await
            .total,
        0,
    );
    same(
        c,
        "status",
        ids(&search(index, c, &[("q", &q("status:succeeded"))]).await),
        vec![a.id.clone()],
    );
    same(
        c,
        "type",
        ids(&search(index, c, &[("q", &q("type:code-coverage-start"))]).await),
        vec![b.id.clone()],
    );
    // A filter alone lists its tasks, without snippets.
    let page = search(index, c, &[("q", &format!("user:{alice}"))]).await;
    same(c, "filter alone", ids(&page), vec![a.id.clone()]);
    same(
        c,
        "no snippet without words",
        page.hits[0].snippet.clone(),
        None,
    );
    // Filters and words must all hold together: a word of another task does not widen a filter.
    let page = search(index, c, &[("q", &format!("{} user:{alice}", word()))]).await;
    same(c, "a filter with an unmatched word", page.total, 0);
}

async fn an_upsert_replaces_and_a_new_status_is_searchable<X: TaskSearch>(index: &X) {
    let c = "an upsert replaces the task's document and its new status is searchable";
    let (user, w) = (word(), word());
    let mut d = doc(&user, &format!("job {w}"), crate::now_ms());
    d.status = Status::Running;
    ok(
        c,
        "first upsert",
        index.upsert(std::slice::from_ref(&d)).await,
    );
    ok(
        c,
        "same again",
        index.upsert(std::slice::from_ref(&d)).await,
    );
    d.status = Status::Failed;
    d.error_code = Some("timeout".into());
    d.error_message = Some("the device went silent".into());
    ok(c, "changed", index.upsert(std::slice::from_ref(&d)).await);
    let page = search(index, c, &[("q", &w)]).await;
    same(c, "one hit per task", ids(&page), vec![d.id.clone()]);
    same(c, "the new status", page.hits[0].status, Status::Failed);
    let by = |f: &str| format!("user:{user} status:{f}");
    same(
        c,
        "new status",
        search(index, c, &[("q", &by("failed"))]).await.total,
        1,
    );
    same(
        c,
        "old status",
        search(index, c, &[("q", &by("running"))]).await.total,
        0,
    );
    let page = search(index, c, &[("q", &format!("silent user:{user}"))]).await;
    same(c, "a word of the new error", ids(&page), vec![d.id.clone()]);
    // Two documents of one task in one batch: the last one stands.
    let mut e = d.clone();
    e.status = Status::Succeeded;
    ok(c, "batch", index.upsert(&[d.clone(), e.clone()]).await);
    let page = search(index, c, &[("q", &w)]).await;
    same(c, "one hit after a batch", page.total, 1);
    same(
        c,
        "the batch's last status",
        page.hits[0].status,
        Status::Succeeded,
    );
}

async fn more_matched_terms_rank_first_then_newer<X: TaskSearch>(index: &X) {
    let c = "more matched terms rank first, then newer tasks";
    let (user, w1, w2, w3) = (word(), word(), word(), word());
    let now = crate::now_ms();
    let both = doc(&user, &format!("{w1} {w2} x"), now);
    let one_newer = doc(&user, &format!("{w1} y z"), now + 10);
    let tie_old = doc(&user, &format!("{w3} q"), now + 20);
    let tie_new = doc(&user, &format!("{w3} q"), now + 30);
    ok(
        c,
        "upsert",
        index
            .upsert(&[
                tie_new.clone(),
                both.clone(),
                tie_old.clone(),
                one_newer.clone(),
            ])
            .await,
    );
    let page = search(index, c, &[("q", &format!("{w1} {w2}"))]).await;
    same(
        c,
        "two terms before one",
        ids(&page),
        vec![both.id.clone(), one_newer.id.clone()],
    );
    if page.hits[0].score <= page.hits[1].score {
        fail(c, format!("scores not decreasing: {:?}", page.hits));
    }
    let page = search(index, c, &[("q", &w3)]).await;
    same(
        c,
        "equal matches: newest first",
        ids(&page),
        vec![tie_new.id.clone(), tie_old.id.clone()],
    );
    let page = search(index, c, &[("q", &format!("user:{user}"))]).await;
    same(
        c,
        "no words: newest first",
        ids(&page),
        vec![
            tie_new.id.clone(),
            tie_old.id.clone(),
            one_newer.id.clone(),
            both.id.clone(),
        ],
    );
}

async fn a_phrase_matches_its_words_in_order<X: TaskSearch>(index: &X) {
    let c = "a quoted phrase matches its words in order in one field";
    let (user, w1, w2) = (word(), word(), word());
    let mut d = doc(&user, "plain", crate::now_ms());
    d.log = format!("route {w1} {w2} added\n");
    ok(c, "upsert", index.upsert(std::slice::from_ref(&d)).await);
    let in_order = format!("\"{w1} {w2}\" user:{user}");
    let reversed = format!("\"{w2} {w1}\" user:{user}");
    same(
        c,
        "in order",
        ids(&search(index, c, &[("q", &in_order)]).await),
        vec![d.id.clone()],
    );
    same(
        c,
        "reversed",
        search(index, c, &[("q", &reversed)]).await.total,
        0,
    );
}

async fn paging_shows_every_hit_once<X: TaskSearch>(index: &X) {
    let c = "paging with cursors shows every hit once";
    let (user, w) = (word(), word());
    let now = crate::now_ms();
    let docs: Vec<SearchDoc> = (0..25)
        .map(|i| doc(&user, &format!("page {w}"), now + i))
        .collect();
    ok(c, "upsert", index.upsert(&docs).await);
    for q in [w.clone(), format!("user:{user}")] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let mut params = vec![("q", q.as_str()), ("limit", "10")];
            if let Some(cur) = &cursor {
                params.push(("cursor", cur.as_str()));
            }
            let parsed = ok(c, "parse", SearchQuery::parse(params.iter().copied()));
            let page = ok(c, "search", index.search(&parsed).await);
            same(c, "total on every page", page.total, 25);
            seen.extend(ids(&page));
            cursor = parsed.next_cursor(page.total);
            if cursor.is_none() {
                break;
            }
        }
        let mut want: Vec<TaskId> = docs.iter().map(|d| d.id.clone()).collect();
        want.reverse();
        same(
            c,
            &format!("every hit once, newest first, for {q:?}"),
            seen,
            want,
        );
    }
}
