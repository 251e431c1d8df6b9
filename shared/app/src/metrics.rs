//! Service metrics as CloudWatch Embedded Metric Format (EMF) objects, namespace `ccaas`. This
//! module only builds JSON: the functions print each object as one stdout line (CloudWatch
//! Logs turns it into metrics; `ccaas-local` shows it in its log), through the [`Metrics`] sink
//! they hand to the use cases.
//!
//! | metric | unit | dimension sets | when |
//! |---|---|---|---|
//! | `TasksSubmitted` | Count | `[Type]`, `[]` | a task was accepted (not an idempotent replay) |
//! | `TasksFinished` | Count | `[Type, Status]`, `[Status]` | the worker wrote `succeeded` or `failed` |
//! | `TaskDurationMs` | Milliseconds | as `TasksFinished` | from the task's creation to that write |
//! | `QueueWaitMs` | Milliseconds | `[]` | a worker took a pending task: from its creation |
//! | `DeviceErrors` | Count | `[Code]` | each failed run of a task's device work, with its code |
//! | `ReportLines` | Count | `[]` | an end task's report was published: its instrumented lines |

use std::sync::Arc;

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "ccaas";

/// The metric names, in one place (the template's dashboard and alarms use the same).
pub const METRIC_NAMES: [&str; 6] = [
    "TasksSubmitted",
    "TasksFinished",
    "TaskDurationMs",
    "QueueWaitMs",
    "DeviceErrors",
    "ReportLines",
];

/// What the use cases report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A task was accepted (`POST /v1/tasks`, not a replay).
    Submitted {
        /// Its type (`code-coverage-start`, ...).
        task_type: &'static str,
    },
    /// A worker wrote a task's terminal status.
    Finished {
        /// Its type.
        task_type: &'static str,
        /// `succeeded` or `failed`.
        status: &'static str,
        /// From its creation to the terminal write.
        duration_ms: u64,
    },
    /// A worker took a pending task (pending → running).
    Taken {
        /// From the task's creation to the take.
        queue_wait_ms: u64,
    },
    /// A run of the device work failed.
    DeviceError {
        /// The error's code (`unreachable`, `timeout`, `notes_missing`, ...).
        code: String,
    },
    /// An end task published a report.
    ReportLines {
        /// The report's instrumented lines (`summary.lines.total`).
        lines: u64,
    },
}

/// One metric of an EMF object: name, unit and value.
type Metric = (&'static str, &'static str, u64);

/// An event's EMF content: its dimension sets, its dimension values and its metrics.
type Shape = (
    &'static [&'static [&'static str]],
    Vec<(&'static str, String)>,
    Vec<Metric>,
);

/// The EMF object of `event` at `timestamp_ms` (Unix milliseconds): the `_aws` metadata
/// (`Timestamp`, `CloudWatchMetrics: [{Namespace, Dimensions, Metrics: [{Name, Unit}]}]`) and
/// each dimension and metric as a top-level member. Pure.
pub fn emf(event: &Event, timestamp_ms: u64) -> Value {
    let (dimension_sets, dimensions, metrics): Shape = match event {
        Event::Submitted { task_type } => (
            &[&["Type"], &[]],
            vec![("Type", (*task_type).to_owned())],
            vec![("TasksSubmitted", "Count", 1)],
        ),
        Event::Finished {
            task_type,
            status,
            duration_ms,
        } => (
            &[&["Type", "Status"], &["Status"]],
            vec![
                ("Type", (*task_type).to_owned()),
                ("Status", (*status).to_owned()),
            ],
            vec![
                ("TasksFinished", "Count", 1),
                ("TaskDurationMs", "Milliseconds", *duration_ms),
            ],
        ),
        Event::Taken { queue_wait_ms } => (
            &[&[]],
            vec![],
            vec![("QueueWaitMs", "Milliseconds", *queue_wait_ms)],
        ),
        Event::DeviceError { code } => (
            &[&["Code"]],
            vec![("Code", code.clone())],
            vec![("DeviceErrors", "Count", 1)],
        ),
        Event::ReportLines { lines } => (&[&[]], vec![], vec![("ReportLines", "Count", *lines)]),
    };
    let mut out = Map::new();
    out.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimension_sets,
                "Metrics": metrics
                    .iter()
                    .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (name, value) in dimensions {
        out.insert(name.into(), Value::String(value));
    }
    for (name, _, value) in metrics {
        out.insert(name.into(), Value::from(value));
    }
    Value::Object(out)
}

/// Where EMF lines go: a function of one line, set by the binary (stdout in the functions and
/// `ccaas-local`); by default nowhere.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<dyn Fn(String) + Send + Sync>>);

impl Metrics {
    /// A sink that hands each EMF line (one JSON object, no newline) to `emit`.
    pub fn to(emit: impl Fn(String) + Send + Sync + 'static) -> Self {
        Metrics(Some(Arc::new(emit)))
    }

    /// Builds `event`'s EMF object at `now_ms` and emits it as one line. Never fails; a sink
    /// that drops lines loses metrics, never work.
    pub fn record(&self, event: Event, now_ms: u64) {
        if let Some(emit) = &self.0 {
            emit(emf(&event, now_ms).to_string());
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Metrics(on)"
        } else {
            "Metrics(off)"
        })
    }
}

/// The instrumented lines of a published report, from an end task's `result`
/// (`summary.lines.total`); `None` for any other result.
pub fn report_lines(result: &Value) -> Option<u64> {
    result.pointer("/summary/lines/total")?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `v` against the EMF specification's structure: `_aws` with an integer
    /// `Timestamp` and `CloudWatchMetrics`, each directive with a `Namespace`, `Dimensions`
    /// (arrays of at most 30 names, each a top-level string member) and `Metrics` (each with a
    /// `Name` that is a top-level number member, and a CloudWatch unit).
    fn valid_emf(v: &Value) -> Result<(), String> {
        let o = v.as_object().ok_or("not an object")?;
        let aws = o.get("_aws").and_then(Value::as_object).ok_or("no _aws")?;
        aws.get("Timestamp")
            .and_then(Value::as_u64)
            .ok_or("no integer Timestamp")?;
        let directives = aws
            .get("CloudWatchMetrics")
            .and_then(Value::as_array)
            .ok_or("no CloudWatchMetrics array")?;
        if directives.is_empty() {
            return Err("no directive".into());
        }
        for d in directives {
            let ns = d
                .get("Namespace")
                .and_then(Value::as_str)
                .ok_or("no Namespace")?;
            if ns.is_empty() || ns.len() > 255 {
                return Err("bad Namespace".into());
            }
            let sets = d
                .get("Dimensions")
                .and_then(Value::as_array)
                .ok_or("no Dimensions")?;
            for set in sets {
                let names = set.as_array().ok_or("a dimension set is not an array")?;
                if names.len() > 30 {
                    return Err("over 30 dimensions".into());
                }
                for n in names {
                    let n = n.as_str().ok_or("a dimension name is not a string")?;
                    if !o.get(n).is_some_and(Value::is_string) {
                        return Err(format!("dimension {n} is not a top-level string"));
                    }
                }
            }
            let metrics = d
                .get("Metrics")
                .and_then(Value::as_array)
                .ok_or("no Metrics")?;
            if metrics.is_empty() || metrics.len() > 100 {
                return Err("0 or over 100 metrics".into());
            }
            for m in metrics {
                let name = m.get("Name").and_then(Value::as_str).ok_or("no Name")?;
                if !o.get(name).is_some_and(Value::is_number) {
                    return Err(format!("metric {name} is not a top-level number"));
                }
                let unit = m.get("Unit").and_then(Value::as_str).ok_or("no Unit")?;
                if !["Count", "Milliseconds"].contains(&unit) {
                    return Err(format!("unit {unit}"));
                }
            }
        }
        Ok(())
    }

    fn every_event() -> Vec<Event> {
        vec![
            Event::Submitted {
                task_type: "code-coverage-start",
            },
            Event::Finished {
                task_type: "code-coverage-end",
                status: "failed",
                duration_ms: 1234,
            },
            Event::Taken { queue_wait_ms: 56 },
            Event::DeviceError {
                code: "unreachable".into(),
            },
            Event::ReportLines { lines: 1000 },
        ]
    }

    #[test]
    fn every_event_is_valid_emf_in_the_ccaas_namespace() {
        for e in every_event() {
            let v = emf(&e, 1_795_777_148_123);
            valid_emf(&v).unwrap_or_else(|why| panic!("{e:?}: {why}: {v}"));
            assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ccaas");
            assert_eq!(v["_aws"]["Timestamp"], 1_795_777_148_123u64);
        }
    }

    #[test]
    fn the_events_emit_exactly_the_documented_metrics() {
        let mut names: Vec<String> = every_event()
            .iter()
            .flat_map(|e| {
                let v = emf(e, 0);
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["Name"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .collect();
        names.sort();
        let mut want: Vec<String> = METRIC_NAMES.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(names, want);
    }

    #[test]
    fn a_finished_task_is_counted_with_its_type_and_status_and_its_duration() {
        let v = emf(
            &Event::Finished {
                task_type: "code-coverage-end",
                status: "succeeded",
                duration_ms: 4200,
            },
            7,
        );
        assert_eq!(
            v,
            json!({
                "_aws": {"Timestamp": 7, "CloudWatchMetrics": [{"Namespace": "ccaas",
                    "Dimensions": [["Type", "Status"], ["Status"]],
                    "Metrics": [{"Name": "TasksFinished", "Unit": "Count"},
                                {"Name": "TaskDurationMs", "Unit": "Milliseconds"}]}]},
                "Type": "code-coverage-end", "Status": "succeeded",
                "TasksFinished": 1, "TaskDurationMs": 4200,
            })
        );
    }

    #[test]
    fn the_validator_refuses_what_is_not_emf() {
        for bad in [
            json!({}),
            json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": []}}),
            json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "ccaas",
                "Dimensions": [["Code"]], "Metrics": [{"Name": "DeviceErrors", "Unit": "Count"}]}]},
                "DeviceErrors": 1}),
            json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "ccaas",
                "Dimensions": [[]], "Metrics": [{"Name": "X", "Unit": "Count"}]}]}}),
        ] {
            assert!(valid_emf(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_sink_gets_one_json_line_per_event_and_the_default_sink_none() {
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = lines.clone();
        let m = Metrics::to(move |l| seen.lock().unwrap().push(l));
        m.record(Event::Taken { queue_wait_ms: 3 }, 9);
        Metrics::default().record(Event::Taken { queue_wait_ms: 3 }, 9);
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains('\n'));
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["QueueWaitMs"], 3);
    }

    #[test]
    fn report_lines_are_read_from_an_end_result_only() {
        assert_eq!(
            report_lines(&json!({"summary": {"lines": {"total": 12, "covered": 3}}})),
            Some(12)
        );
        assert_eq!(report_lines(&json!({"session": "x"})), None);
    }
}
