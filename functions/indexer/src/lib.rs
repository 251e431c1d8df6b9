//! The search indexer Lambda (docs/design.md, "Search"): the tasks table's DynamoDB stream
//! into the tantivy index on the bucket's private `index/search/` (or, with
//! `CCAAS_SEARCH=opensearch`, into an OpenSearch index by one bulk upsert per batch). Per batch it takes the
//! task ids the records changed ([`changed_tasks`]) and runs the single writer's step
//! ([`ccaas_search::replica::apply`]): pull the store's last commit into `/tmp`, upsert each
//! task as stored now with its log, commit, push the new files and `meta.json` last. The
//! event source mapping runs one batch at a time (reserved concurrency 1, parallelisation 1),
//! so exactly one writer exists. A failed batch fails the invocation: the stream retries it,
//! bisecting it on each error, and every write is an idempotent upsert, so a redelivery is
//! harmless.

use std::collections::BTreeSet;
use std::path::PathBuf;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use ccaas_app::ports::IndexFiles;
use ccaas_app::{LogStore, TaskSearch, TaskStore};
use ccaas_aws::{SdkConfig, SearchBackend};
use ccaas_domain::TaskId;
use ccaas_dynamo::DynamoTaskStore;
use ccaas_opensearch::{OpenSearchError, OpenSearchTasks};
use ccaas_s3::{S3IndexFiles, S3Logs};
use serde_dynamo::AttributeValue;
use tracing::info;

pub mod config;

pub use config::Config;

/// What can fail a batch.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// The writer's step failed (the store, the logs, the index files or the index); the
    /// stream delivers the batch again.
    #[error("indexing {tasks} changed tasks failed")]
    Batch {
        /// How many distinct tasks the batch changed.
        tasks: usize,
        /// Why.
        #[source]
        source: ccaas_app::Error,
    },
}

/// The writer's dependencies: the index files on the shared store, the task store and the
/// log store it reads each changed task from, and its local copy of the index.
#[derive(Clone, Debug)]
pub struct Indexer<F, S, L> {
    /// The index's files (`index/search/` of the bucket on AWS).
    pub files: F,
    /// The tasks table.
    pub store: S,
    /// The task logs (`logs/`), whose text is indexed with the task.
    pub logs: L,
    /// The writer's copy of the index (under `/tmp` on Lambda).
    pub dir: PathBuf,
    /// With `CCAAS_SEARCH=opensearch`, the OpenSearch index written instead of the bucket's
    /// tantivy index (`files` and `dir` are then unused).
    pub opensearch: Option<OpenSearchTasks>,
}

/// The indexer over the AWS adapters.
pub type Deps = Indexer<S3IndexFiles, DynamoTaskStore, S3Logs>;

/// The production wiring, from the config and the process's SDK configuration. Errors:
/// [`ccaas_opensearch::from_settings`]'s with `CCAAS_SEARCH=opensearch`, at start.
pub fn wire(config: &Config, sdk: &SdkConfig) -> Result<Deps, OpenSearchError> {
    let stack = &config.stack;
    let s3 = ccaas_s3::client(sdk);
    let opensearch = match config.search.backend {
        SearchBackend::OpenSearch => Some(ccaas_opensearch::from_settings(&config.search, sdk)?),
        SearchBackend::None | SearchBackend::Tantivy => None,
    };
    Ok(Indexer {
        files: S3IndexFiles::new(s3.clone(), &stack.bucket),
        store: DynamoTaskStore::new(
            ccaas_dynamo::client(sdk),
            &stack.tasks_table,
            &stack.usage_table,
        ),
        logs: S3Logs::new(s3, &stack.bucket),
        dir: config.search.index_dir.clone(),
        opensearch,
    })
}

/// The task a stream record changed, if it is a task's insert or change. The tasks table also
/// holds idempotency records (key `idem#<user>#<key>`, no `kind`; ccaas-dynamo's layout):
/// a record is a task's when its key `id` is a task id and its new image, when the record
/// carries one, has `kind = "task"`. Removals are skipped: the service never deletes a task
/// (only idempotency records expire).
pub fn task_of(record: &EventRecord) -> Option<TaskId> {
    if !matches!(record.event_name.as_str(), "INSERT" | "MODIFY") {
        return None;
    }
    let id = match record.change.keys.get("id") {
        Some(AttributeValue::S(s)) => TaskId::parse(s)?,
        _ => return None,
    };
    let image = &record.change.new_image;
    if !image.is_empty() && !matches!(image.get("kind"), Some(AttributeValue::S(k)) if k == "task")
    {
        return None;
    }
    Some(id)
}

/// The distinct tasks a batch changed, in id order (a task written several times in a batch
/// is indexed once, as it is stored now).
pub fn changed_tasks(event: &Event) -> Vec<TaskId> {
    event
        .records
        .iter()
        .filter_map(task_of)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Handles one stream batch: indexes the tasks it changed and answers an empty list of
/// failures, or fails the whole batch (the index is written in one commit), which the stream
/// then retries, bisected. A batch that changed no task writes nothing. Idempotent: the same
/// batch again writes the same documents. Must run one batch at a time per store.
/// Errors: [`IndexerError::Batch`].
pub async fn handle<F, S, L>(
    indexer: &Indexer<F, S, L>,
    event: &Event,
    now_ms: u64,
) -> Result<DynamoDbEventResponse, IndexerError>
where
    F: IndexFiles,
    S: TaskStore,
    L: LogStore,
{
    let ids = changed_tasks(event);
    if ids.is_empty() {
        info!(records = event.records.len(), "no task changed");
        return Ok(DynamoDbEventResponse::default());
    }
    let batch = |source| IndexerError::Batch {
        tasks: ids.len(),
        source,
    };
    let indexed = match &indexer.opensearch {
        // OpenSearch takes the documents as they are: one bulk upsert, searchable on return.
        Some(index) => {
            let docs = ccaas_app::search::docs_of(&indexer.store, &indexer.logs, &ids)
                .await
                .map_err(batch)?;
            index.upsert(&docs).await.map_err(batch)?;
            docs.len()
        }
        None => ccaas_search::replica::apply(
            &indexer.files,
            &indexer.dir,
            &indexer.store,
            &indexer.logs,
            &ids,
            now_ms,
        )
        .await
        .map_err(batch)?,
    };
    info!(
        records = event.records.len(),
        tasks = ids.len(),
        indexed,
        "indexed"
    );
    Ok(DynamoDbEventResponse::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(records: serde_json::Value) -> Event {
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    fn record(name: &str, id: &str, image: Option<serde_json::Value>) -> serde_json::Value {
        let mut change = serde_json::json!({
            "ApproximateCreationDateTime": 1_764_979_200.0,
            "Keys": { "id": { "S": id } },
            "SequenceNumber": "100",
            "SizeBytes": 64,
            "StreamViewType": "NEW_IMAGE",
        });
        if let Some(image) = image {
            change["NewImage"] = image;
        }
        serde_json::json!({
            "eventID": "e1", "eventName": name, "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": change,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/ccaas-tasks/stream/2026-12-01T00:00:00.000",
        })
    }

    #[test]
    fn only_inserted_or_changed_tasks_count_once_each_and_idempotency_records_do_not() {
        let a = TaskId::from_parts(1_000, 1);
        let b = TaskId::from_parts(2_000, 2);
        let task_image = |id: &TaskId| {
            Some(serde_json::json!({ "id": { "S": id.as_str() }, "kind": { "S": "task" } }))
        };
        let ev = event(serde_json::json!([
            record("INSERT", a.as_str(), task_image(&a)),
            record("MODIFY", a.as_str(), task_image(&a)),
            record("MODIFY", b.as_str(), task_image(&b)),
            record(
                "INSERT",
                "idem#alice#k1",
                Some(serde_json::json!({ "id": { "S": "idem#alice#k1" } }))
            ),
            record("REMOVE", "idem#alice#k0", None),
            record("REMOVE", a.as_str(), None),
            // A key that looks like a task id on an item of another kind.
            record(
                "INSERT",
                TaskId::from_parts(3_000, 3).as_str(),
                Some(serde_json::json!({ "kind": { "S": "other" } }))
            ),
        ]));
        assert_eq!(changed_tasks(&ev), vec![a, b]);
    }

    #[test]
    fn a_record_without_a_string_id_key_is_skipped() {
        let mut r = record("INSERT", "x", None);
        r["dynamodb"]["Keys"] = serde_json::json!({ "id": { "N": "5" } });
        assert!(changed_tasks(&event(serde_json::json!([r]))).is_empty());
    }
}
