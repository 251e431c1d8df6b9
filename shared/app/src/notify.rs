//! The webhook payload of a finished task: Slack's `text` line plus the task's details.
//! Pure: it reads only the task, which never holds credentials.

use ccaas_domain::{Status, Task};
use serde_json::{Value, json};

use crate::ports::device_key;

/// The JSON body POSTed to a finished task's webhook.
///
/// `text` is one line a Slack incoming webhook shows as is (`&`, `<` and `>` escaped as Slack
/// asks); the other fields are for programs: `task_id`, `type`, `name`, `status`, `user`,
/// `device` (`host:port`), `updated`, and `link` and `summary` of a succeeded task or
/// `error` (`code`, `message`) of a failed one. The device credentials are not on the task,
/// so they cannot be here.
pub fn payload(task: &Task) -> Value {
    let device = device_key(&task.device, task.port);
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
        "task {} {} on {} {}",
        task.id,
        task.task_type.as_str(),
        device,
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
            lease_until: None,
            lease_holder: None,
            retry_since: None,
            started: None,
            admin: false,
            result: None,
            error: None,
            notified: None,
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
    fn percent_rounds_down_so_only_full_coverage_reads_100() {
        assert_eq!(percent(9999, 10000), "99.9% (9999/10000)");
        assert_eq!(percent(10, 10), "100.0% (10/10)");
        assert_eq!(percent(0, 0), "- (0/0)");
    }
}
