//! What a finished task's notifications say: the webhook payload (Slack's `text` line plus
//! the task's details) and the email notice (subject, plain text, HTML). Pure: it reads only
//! the task, which never holds credentials.

use std::fmt::Write as _;

use ccaas_domain::{Status, Task};
use serde_json::{Value, json};

use crate::ports::{Mail, task_device};

/// The longest subject of an email notice, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// The JSON body POSTed to a finished task's webhook.
///
/// `text` is one line a Slack incoming webhook shows as is (`&`, `<` and `>` escaped as Slack
/// asks); the other fields are for programs: `task_id`, `type`, `name`, `status`, `user`,
/// `device` (`host:port`), `updated`, and `link` and `summary` of a succeeded task or
/// `error` (`code`, `message`) of a failed one. The device credentials are not on the task,
/// so they cannot be here.
pub fn payload(task: &Task) -> Value {
    let device = task_device(task);
    // A task without a device (a merge) is on none.
    let on = match device.is_empty() {
        true => String::new(),
        false => format!(" on {device}"),
    };
    let result = task.result.as_ref();
    let link = result.and_then(|r| r.get("link")).and_then(Value::as_str);
    let summary = result.and_then(|r| r.get("summary")).cloned();
    let outcome = match (task.status, &task.error) {
        (Status::Failed, Some(e)) => format!("failed: {}: {}", e.code, e.message),
        (Status::Failed, None) => "failed".to_string(),
        (Status::Succeeded, _) => {
            let mut s = "succeeded".to_string();
            if let Some(lines) = summary.as_ref().and_then(|s| s.get("lines")) {
                let covered = lines.get("covered").and_then(Value::as_u64).unwrap_or(0);
                let total = lines.get("total").and_then(Value::as_u64).unwrap_or(0);
                s.push_str(&format!(": lines {}", percent(covered, total)));
            } else if let Some(session) = result
                .and_then(|r| r.get("session"))
                .and_then(Value::as_str)
            {
                s.push_str(&format!(": session {session} open"));
            }
            if let Some(link) = link {
                s.push_str(&format!(" ({link})"));
            }
            s
        }
        (other, _) => other.as_str().to_string(),
    };
    let text = format!(
        "task {} {}{on} {}",
        task.id,
        task.task_type.as_str(),
        outcome
    );
    json!({
        "text": slack_escape(&one_line(&text)),
        "task_id": task.id.to_string(),
        "type": task.task_type.as_str(),
        "name": task.name,
        "status": task.status.as_str(),
        "user": task.user,
        "device": device,
        "updated": task.updated,
        "link": link,
        "summary": summary,
        "error": task.error,
    })
}

/// The email notice of a finished task to its `notify.email` recipients.
///
/// Subject: `[ccaas] <name>: succeeded (71.3% lines)`, `[ccaas] <name>: succeeded` (no
/// report) or `[ccaas] <name>: failed: <code>`, where a task without a name is called
/// `<type> on <host:port>`; one line, at most [`MAX_SUBJECT_CHARS`] characters. The plain
/// text and the HTML part carry the same facts: task id, name, type, user, device, status,
/// update time, line coverage, the report link and, for a failure, the error code and
/// message. Every value in the HTML is escaped, and only an `http(s)` link becomes an anchor.
pub fn mail(task: &Task) -> Mail {
    let device = task_device(task);
    let result = task.result.as_ref();
    let link = result.and_then(|r| r.get("link")).and_then(Value::as_str);
    let lines = result
        .and_then(|r| r.get("summary"))
        .and_then(|s| s.get("lines"))
        .map(|l| {
            let n = |k: &str| l.get(k).and_then(Value::as_u64).unwrap_or(0);
            (n("covered"), n("total"))
        });
    let session = result
        .and_then(|r| r.get("session"))
        .and_then(Value::as_str);
    let label = match &task.name {
        Some(n) if !n.trim().is_empty() => n.clone(),
        _ if device.is_empty() => task.task_type.as_str().to_string(),
        _ => format!("{} on {device}", task.task_type.as_str()),
    };
    let outcome = match (task.status, &task.error, lines) {
        (Status::Failed, Some(e), _) => format!("failed: {}", e.code),
        (Status::Succeeded, _, Some((covered, total))) if total > 0 => {
            format!("succeeded ({} lines)", percent_only(covered, total))
        }
        (status, _, _) => status.as_str().to_string(),
    };
    let subject = truncate_chars(
        &one_line(&format!("[ccaas] {label}: {outcome}")),
        MAX_SUBJECT_CHARS,
    );

    let mut facts: Vec<(&str, String)> = vec![
        ("Task", task.id.to_string()),
        ("Name", task.name.clone().unwrap_or_else(|| "-".into())),
        ("Type", task.task_type.as_str().into()),
        ("User", task.user.clone()),
        ("Device", device),
        ("Status", task.status.as_str().into()),
        ("Updated", task.updated.clone()),
    ];
    if let Some((covered, total)) = lines {
        facts.push(("Lines", percent(covered, total)));
    }
    if let Some(session) = session {
        facts.push(("Session", session.to_string()));
    }
    if let Some(e) = &task.error {
        facts.push(("Error", e.code.clone()));
        facts.push(("Message", e.message.clone()));
    }
    if let Some(link) = link {
        facts.push(("Report", link.to_string()));
    }

    let headline = format!("Task {} {}.", task.id, task.status.as_str());
    let mut text = format!("{headline}\n\n");
    for (k, v) in &facts {
        let _ = writeln!(text, "{:<9}{v}", format!("{k}:"));
    }
    text.push_str("\n-- \nccaas, code coverage as a service\n");

    let mut html =
        String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n");
    let _ = writeln!(html, "<p>{}</p>\n<table>", html_escape(&headline));
    for (k, v) in &facts {
        let value = if *k == "Report" && (v.starts_with("https://") || v.starts_with("http://")) {
            format!("<a href=\"{0}\">{0}</a>", html_escape(v))
        } else {
            html_escape(v).replace('\n', "<br>")
        };
        let _ = writeln!(html, "<tr><th align=\"left\">{k}</th><td>{value}</td></tr>");
    }
    html.push_str("</table>\n<p>-- <br>ccaas, code coverage as a service</p>\n</body></html>\n");

    Mail {
        to: task.email.clone(),
        subject,
        text,
        html,
        delivery_id: task.id.to_string(),
    }
}

/// `71.3%`, rounded down as [`percent`] does.
fn percent_only(covered: u64, total: u64) -> String {
    percent(covered, total)
        .split(' ')
        .next()
        .unwrap_or("-")
        .to_string()
}

/// At most `max` characters of `s`.
fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Escapes text for HTML element content and double-quoted attribute values.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `71.3% (713/1000)`: tenths of a percent rounded down, as the report shows them, so only
/// full coverage reads 100%.
fn percent(covered: u64, total: u64) -> String {
    if total == 0 {
        return "- (0/0)".into();
    }
    let tenths = u128::from(covered.min(total)) * 1000 / u128::from(total);
    format!("{}.{}% ({covered}/{total})", tenths / 10, tenths % 10)
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccaas_domain::{Flush, Priority, TaskError, TaskId, TaskType};

    fn task(status: Status) -> Task {
        Task {
            id: TaskId::parse("01JDQ2V3W4X5Y6Z7A8B9C0D1E2").expect("id"),
            name: Some("nightly".into()),
            user: "alice".into(),
            task_type: TaskType::CoverageEnd,
            priority: Priority::Normal,
            queue: None,
            status,
            version: 3,
            created: "2026-11-29T10:00:00.000Z".into(),
            updated: "2026-11-29T10:05:00.000Z".into(),
            device: "10.0.0.1".into(),
            port: 22,
            modules: vec![],
            session: None,
            flush: Flush::Signal,
            webhook: Some("https://hooks.example/T/B/secret".into()),
            email: vec!["alice@example.com".into(), "qa@lab.example".into()],
            lease_until: None,
            lease_holder: None,
            retry_since: None,
            started: None,
            admin: false,
            result: None,
            error: None,
            notified: None,
            merge: Vec::new(),
            notified_email: None,
        }
    }

    #[test]
    fn a_succeeded_end_task_reads_as_one_line_with_its_line_coverage_and_link() {
        let mut t = task(Status::Succeeded);
        t.result = Some(json!({
            "link": "https://site/reports/x/index.html",
            "summary": {"lines": {"covered": 713, "total": 1000, "percent": 71.3}},
        }));
        let p = payload(&t);
        assert_eq!(
            p["text"],
            "task 01JDQ2V3W4X5Y6Z7A8B9C0D1E2 code-coverage-end on 10.0.0.1:22 succeeded: \
             lines 71.3% (713/1000) (https://site/reports/x/index.html)"
        );
        assert_eq!(p["status"], "succeeded");
        assert_eq!(p["device"], "10.0.0.1:22");
        assert_eq!(p["summary"]["lines"]["total"], 1000);
        assert!(p["error"].is_null());
    }

    #[test]
    fn a_merge_without_a_device_is_announced_on_no_device() {
        let mut t = task(Status::Succeeded);
        t.task_type = TaskType::CoverageMerge;
        t.device = String::new();
        t.port = 0;
        t.name = None;
        t.result = Some(json!({"summary": {"lines": {"covered": 1, "total": 2}}}));
        let p = payload(&t);
        assert_eq!(
            p["text"],
            "task 01JDQ2V3W4X5Y6Z7A8B9C0D1E2 code-coverage-merge succeeded: lines 50.0% (1/2)"
        );
        assert_eq!(p["device"], "");
        let m = mail(&t);
        assert!(m.subject.contains("code-coverage-merge"), "{}", m.subject);
        assert!(!m.subject.contains(":0"), "{}", m.subject);
    }

    #[test]
    fn a_failed_task_carries_its_error_on_one_escaped_line_and_never_its_webhook() {
        let mut t = task(Status::Failed);
        t.error = Some(TaskError {
            code: "unreachable".into(),
            message: "no route\nto <host> & more".into(),
        });
        let p = payload(&t);
        let text = p["text"].as_str().unwrap();
        assert!(
            text.ends_with("failed: unreachable: no route to &lt;host&gt; &amp; more"),
            "{text}"
        );
        assert_eq!(p["error"]["code"], "unreachable");
        assert!(
            !p.to_string().contains("secret"),
            "the webhook URL is not echoed"
        );
    }

    #[test]
    fn a_succeeded_task_mails_its_coverage_in_the_subject_and_its_link_in_both_parts() {
        let mut t = task(Status::Succeeded);
        t.result = Some(json!({
            "link": "https://site/reports/x/index.html",
            "summary": {"lines": {"covered": 831, "total": 1000, "percent": 83.1}},
        }));
        let m = mail(&t);
        assert_eq!(m.subject, "[ccaas] nightly: succeeded (83.1% lines)");
        assert_eq!(m.to, ["alice@example.com", "qa@lab.example"]);
        assert_eq!(m.delivery_id, "01JDQ2V3W4X5Y6Z7A8B9C0D1E2");
        for part in [&m.text, &m.html] {
            for fact in [
                "01JDQ2V3W4X5Y6Z7A8B9C0D1E2",
                "nightly",
                "code-coverage-end",
                "alice",
                "10.0.0.1:22",
                "succeeded",
                "83.1% (831/1000)",
                "https://site/reports/x/index.html",
            ] {
                assert!(part.contains(fact), "{fact} in {part}");
            }
            assert!(!part.contains("secret"), "the webhook URL is not in a mail");
        }
        assert!(
            m.html
                .contains(r#"<a href="https://site/reports/x/index.html">"#),
            "{}",
            m.html
        );
    }

    #[test]
    fn a_failed_task_mails_its_code_and_message_with_everything_escaped_in_html() {
        let mut t = task(Status::Failed);
        t.name = Some("<b>nightly</b> & \"more\"".into());
        t.error = Some(TaskError {
            code: "unreachable".into(),
            message: "no route\nto <host> & 'more'".into(),
        });
        t.result = Some(json!({"link": "javascript:alert(1)"}));
        let m = mail(&t);
        assert_eq!(
            m.subject,
            "[ccaas] <b>nightly</b> & \"more\": failed: unreachable"
        );
        assert!(m.text.contains("Error:   unreachable"), "{}", m.text);
        assert!(m.text.contains("no route\nto <host>"), "{}", m.text);
        assert!(
            m.html
                .contains("&lt;b&gt;nightly&lt;/b&gt; &amp; &quot;more&quot;")
        );
        assert!(
            m.html
                .contains("no route<br>to &lt;host&gt; &amp; &#39;more&#39;")
        );
        assert!(!m.html.contains("<b>"), "{}", m.html);
        assert!(
            !m.html.contains("<a "),
            "only http(s) links are anchors: {}",
            m.html
        );
    }

    #[test]
    fn a_subject_is_one_line_of_at_most_200_characters_and_names_an_unnamed_task_by_device() {
        let mut t = task(Status::Succeeded);
        t.name = None;
        assert_eq!(
            mail(&t).subject,
            "[ccaas] code-coverage-end on 10.0.0.1:22: succeeded"
        );
        t.status = Status::Failed;
        t.name = Some("é".repeat(300));
        t.error = Some(TaskError {
            code: "timeout".into(),
            message: "m".into(),
        });
        let s = mail(&t).subject;
        assert_eq!(s.chars().count(), MAX_SUBJECT_CHARS);
        assert!(!s.contains('\n') && !s.contains('\r'));
    }

    #[test]
    fn percent_rounds_down_so_only_full_coverage_reads_100() {
        assert_eq!(percent(9999, 10000), "99.9% (9999/10000)");
        assert_eq!(percent(10, 10), "100.0% (10/10)");
        assert_eq!(percent(0, 0), "- (0/0)");
    }
}
