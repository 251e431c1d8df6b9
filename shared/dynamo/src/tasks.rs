//! The DynamoDB `tasks` table behind [`TaskStore`]: conditional writes, idempotency records
//! in the same table, and GSI queries with opaque cursors.
//!
//! Layout: key `id` (S). A task item carries `kind = "task"`, `status`, `user` and `device`,
//! the hash keys of the GSIs `by-kind`, `by-status`, `by-user` and `by-device`, each sorted
//! by `id` (ids sort by creation time). An idempotency record is an item with id
//! `idem#<user>#<key>` and none of those attributes, so it appears in no index.
//!
//! The usage history lives in a second table, keys `pk` (S) and `sk` (S): counter items
//! (`pk` a series such as `day#user`, `sk` `<period>#<group>`, numbers ADDed) and coverage
//! points (`pk` `cov#device#<host:port>` or `cov#build#<id>`, `sk` the end task id). A task's
//! creation and its terminal status write carry their counter ADDs and point puts
//! ([`ccaas_app::usage::Effects`]) in one TransactWriteItems with the task's conditional
//! write, so a write that loses its condition (a replay, a duplicate delivery) adds nothing.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use ccaas_app::ports::{Created, IdempotencyRecord, Page};
use ccaas_app::usage::{CounterAdd, CounterRow, CounterRows, CoveragePoint, Effects};
use ccaas_app::{Error, TaskStore, UsageStore};
use ccaas_domain::{Channel, FieldError, ListQuery, Notified, Priority, Status, Task, TaskId};
use serde_json::Value;

use crate::attr::{from_item, to_attr, to_item};
use ccaas_aws::AwsError;

const BACKEND: &str = "task store";
/// Index rows one list round reads.
const ROUND_ROWS: i32 = 100;
/// Rounds one list request may read before it returns a short page with a cursor.
const MAX_ROUNDS: usize = 10;
/// Idempotency records expire after a day (DynamoDB TTL attribute `expires_at`).
const IDEM_TTL_SECS: u64 = 24 * 3600;
/// Attempts of a transaction that meets another one on a shared counter item.
const TRANSACT_ATTEMPTS: u32 = 8;

/// The names of the table's indexes, in one place (the template and `localstack/` agree).
pub const INDEXES: [(&str, &str); 4] = [
    ("by-kind", "kind"),
    ("by-status", "status"),
    ("by-user", "user"),
    ("by-device", "device"),
];

/// The task store on the `tasks` table, with its usage history in the `usage` table.
#[derive(Clone, Debug)]
pub struct DynamoTaskStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    usage: String,
}

/// How a transaction ended.
enum Committed {
    /// Every write was made.
    Yes,
    /// A condition failed: nothing was written.
    ConditionFailed,
}

impl DynamoTaskStore {
    /// A store on the tasks table `table` and the usage table `usage`.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        usage: impl Into<String>,
    ) -> Self {
        DynamoTaskStore {
            client,
            table: table.into(),
            usage: usage.into(),
        }
    }

    /// The transaction items of a task write's usage effects: one ADD per counter item, one
    /// put per coverage point (keyed by its end task, so a repeat writes the same item).
    fn effect_items(&self, effects: Effects) -> Result<Vec<TransactWriteItem>, Error> {
        let mut items = Vec::with_capacity(effects.counters.len() + effects.points.len());
        for CounterAdd { series, sk, adds } in effects.counters {
            let mut names = HashMap::new();
            let mut values = HashMap::new();
            let mut parts = Vec::new();
            for (i, (attr, delta)) in adds.into_iter().enumerate() {
                parts.push(format!("#a{i} :a{i}"));
                names.insert(format!("#a{i}"), attr);
                values.insert(format!(":a{i}"), AttributeValue::N(delta.to_string()));
            }
            let update = Update::builder()
                .table_name(&self.usage)
                .key("pk", AttributeValue::S(series))
                .key("sk", AttributeValue::S(sk))
                .update_expression(format!("ADD {}", parts.join(", ")))
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .build()
                .map_err(|e| AwsError::sdk("dynamodb:Update", e).into_app(BACKEND))?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        for (key, point) in effects.points {
            let sk = point.task.to_string();
            let v = serde_json::to_value(&point).map_err(|e| Error::Corrupt(e.to_string()))?;
            let mut item = to_item(v);
            item.insert("pk".into(), AttributeValue::S(key));
            item.insert("sk".into(), AttributeValue::S(sk));
            let put = Put::builder()
                .table_name(&self.usage)
                .set_item(Some(item))
                .build()
                .map_err(|e| AwsError::sdk("dynamodb:Put", e).into_app(BACKEND))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        Ok(items)
    }

    /// Runs one TransactWriteItems. A transaction that meets another on a shared item (two
    /// tasks ending at once ADD to the same counters) is tried again after a short pause, up
    /// to 8 attempts. Errors: [`Error::Unavailable`].
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Committed, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let e = match r {
                Ok(_) => return Ok(Committed::Yes),
                Err(e) => e,
            };
            let codes: Vec<String> = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(t)) => t
                    .cancellation_reasons()
                    .iter()
                    .filter_map(|r| r.code().map(str::to_owned))
                    .collect(),
                _ => {
                    return Err(AwsError::sdk("dynamodb:TransactWriteItems", e).into_app(BACKEND));
                }
            };
            if codes.iter().any(|c| c == "ConditionalCheckFailed") {
                return Ok(Committed::ConditionFailed);
            }
            let conflict = codes
                .iter()
                .any(|c| c == "TransactionConflict" || c == "ThrottlingError");
            if !conflict {
                // No reasons given (an emulator may give none): a cancelled transaction here
                // is one whose condition failed.
                if codes.iter().all(|c| c == "None") {
                    return Ok(Committed::ConditionFailed);
                }
                return Err(AwsError::sdk("dynamodb:TransactWriteItems", e).into_app(BACKEND));
            }
            if attempt >= TRANSACT_ATTEMPTS {
                return Err(AwsError::sdk("dynamodb:TransactWriteItems", e).into_app(BACKEND));
            }
            let pause = 10 * u64::from(attempt) + u64::from(std::process::id() % 7) * 3;
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
    }

    fn task_item(task: &Task) -> Result<HashMap<String, AttributeValue>, Error> {
        let mut v = serde_json::to_value(task).map_err(|e| Error::Corrupt(e.to_string()))?;
        if let Value::Object(m) = &mut v {
            m.insert("kind".into(), Value::String("task".into()));
            // A task without a device (a merge) stays out of the `by-device` index: an index
            // key may not be an empty string. It reads back as an empty device.
            if task.device.is_empty() {
                m.remove("device");
            }
        }
        Ok(to_item(v))
    }

    fn decode(item: &HashMap<String, AttributeValue>) -> Result<Task, Error> {
        let v = from_item(item).map_err(|e| e.into_app(BACKEND))?;
        serde_json::from_value(v).map_err(|e| Error::Corrupt(format!("task item: {e}")))
    }

    /// The first of device `host`'s pending or running tasks on `port` that `pick` takes, on
    /// the `by-device` index (its range key is the id, which orders by creation): newest first,
    /// or, with `before`, oldest first among those created before it. A bounded number of
    /// rounds, like `list`. Errors: [`Error::Unavailable`], [`Error::Corrupt`].
    async fn first_open<T>(
        &self,
        host: &str,
        port: u16,
        before: Option<&TaskId>,
        pick: impl Fn(Task) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        let mut start = None;
        for _ in 0..MAX_ROUNDS {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("by-device")
                .key_condition_expression(match before {
                    Some(_) => "device = :h AND id < :before",
                    None => "device = :h",
                })
                .filter_expression("(#st = :pending OR #st = :running) AND #port = :port")
                .expression_attribute_names("#st", "status")
                .expression_attribute_names("#port", "port")
                .expression_attribute_values(":h", AttributeValue::S(host.to_owned()))
                .expression_attribute_values(
                    ":pending",
                    AttributeValue::S(Status::Pending.as_str().into()),
                )
                .expression_attribute_values(
                    ":running",
                    AttributeValue::S(Status::Running.as_str().into()),
                )
                .expression_attribute_values(":port", AttributeValue::N(port.to_string()))
                .scan_index_forward(before.is_some())
                .limit(ROUND_ROWS)
                .set_exclusive_start_key(start.take());
            if let Some(b) = before {
                q = q.expression_attribute_values(":before", AttributeValue::S(b.to_string()));
            }
            let out = q
                .send()
                .await
                .map_err(|e| AwsError::sdk("dynamodb:Query", e).into_app(BACKEND))?;
            for item in out.items() {
                if let Some(found) = pick(Self::decode(item)?) {
                    return Ok(Some(found));
                }
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(None),
            }
        }
        Ok(None)
    }
}

fn bad_cursor() -> Error {
    Error::Invalid(FieldError {
        code: "invalid_field",
        field: "next".into(),
        message: "is not a cursor from this API for this query".into(),
    })
}

/// The index and hash value that serve a query: the most selective filter wins.
fn plan(q: &ListQuery) -> (&'static str, &'static str, String) {
    if let Some(d) = &q.device {
        ("by-device", "device", d.clone())
    } else if let Some(u) = &q.user {
        ("by-user", "user", u.clone())
    } else if let Some(s) = q.status {
        ("by-status", "status", s.as_str().to_owned())
    } else {
        ("by-kind", "kind", "task".to_owned())
    }
}

/// Encodes a LastEvaluatedKey as an opaque cursor bound to its index and filters.
fn encode_cursor(
    index: &str,
    filters: &str,
    key: &HashMap<String, AttributeValue>,
) -> Result<String, Error> {
    let mut m = serde_json::Map::new();
    m.insert("i".into(), Value::String(index.into()));
    m.insert("f".into(), Value::String(filters.into()));
    for (k, v) in key {
        let AttributeValue::S(s) = v else {
            return Err(Error::Corrupt("non-string key attribute".into()));
        };
        m.insert(k.clone(), Value::String(s.clone()));
    }
    Ok(hex::encode(Value::Object(m).to_string()))
}

/// Decodes a cursor, accepting only one made for this index, hash value and filters.
fn decode_cursor(
    cursor: &str,
    index: &str,
    filters: &str,
    hash_attr: &str,
    hash_value: &str,
) -> Result<HashMap<String, AttributeValue>, Error> {
    let bytes = hex::decode(cursor).map_err(|_| bad_cursor())?;
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(bad_cursor());
    };
    if m.get("i").and_then(Value::as_str) != Some(index)
        || m.get("f").and_then(Value::as_str) != Some(filters)
        || m.get(hash_attr).and_then(Value::as_str) != Some(hash_value)
        || m.get("id")
            .and_then(Value::as_str)
            .and_then(TaskId::parse)
            .is_none()
        || m.len() != 4
    {
        return Err(bad_cursor());
    }
    Ok(m.into_iter()
        .filter(|(k, _)| k != "i" && k != "f")
        .map(|(k, v)| (k, to_attr(v)))
        .collect())
}

impl TaskStore for DynamoTaskStore {
    async fn open_queue(&self, host: &str, port: u16) -> Result<Option<Priority>, Error> {
        // The newest open task decides.
        self.first_open(host, port, None, |t| Some(t.queue())).await
    }

    async fn earlier_open(
        &self,
        host: &str,
        port: u16,
        before: &TaskId,
        queue: Priority,
    ) -> Result<Option<TaskId>, Error> {
        // The queue is compared here, not in the filter: records written before `queue`
        // existed lack the attribute.
        self.first_open(host, port, Some(before), |t| {
            (t.queue() != queue).then_some(t.id)
        })
        .await
    }

    async fn create(
        &self,
        task: &Task,
        idem: Option<&IdempotencyRecord>,
    ) -> Result<Created, Error> {
        let item = Self::task_item(task)?;
        let put = |item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(id)")
                .build()
                .map_err(|e| AwsError::sdk("dynamodb:Put", e).into_app(BACKEND))
        };
        // Task, idempotency record and `requested` counters in one transaction: all or none,
        // so a replay that finds the record counts nothing.
        let mut items = Vec::new();
        if let Some(rec) = idem {
            let expires = task.id.unix_ms() / 1000 + IDEM_TTL_SECS;
            let mut rec_item = to_item(serde_json::json!({
                "task_id": rec.task_id, "fingerprint": rec.fingerprint, "expires_at": expires,
            }));
            rec_item.insert(
                "id".into(),
                AttributeValue::S(format!("idem#{}", rec.scope)),
            );
            items.push(TransactWriteItem::builder().put(put(rec_item)?).build());
        }
        // The task last: DynamoDB applies a transaction at once, but moto applies its items
        // one by one while other requests read, so a reader that sees the task there sees
        // its counters too.
        items.extend(self.effect_items(Effects::of_create(task))?);
        items.push(TransactWriteItem::builder().put(put(item)?).build());
        match self.transact(items).await? {
            Committed::Yes => Ok(Created::New),
            Committed::ConditionFailed if idem.is_some() => Ok(Created::KeyExists),
            Committed::ConditionFailed => Err(Error::Conflict),
        }
    }

    async fn get(&self, id: &TaskId) -> Result<Option<Task>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::sdk("dynamodb:GetItem", e).into_app(BACKEND))?;
        out.item().map(Self::decode).transpose()
    }

    async fn idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(format!("idem#{scope}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::sdk("dynamodb:GetItem", e).into_app(BACKEND))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let v = from_item(item).map_err(|e| e.into_app(BACKEND))?;
        let task_id = v
            .get("task_id")
            .and_then(Value::as_str)
            .and_then(TaskId::parse)
            .ok_or_else(|| Error::Corrupt("idempotency record without task id".into()))?;
        Ok(Some(IdempotencyRecord {
            scope: scope.to_owned(),
            task_id,
            fingerprint: v
                .get("fingerprint")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }))
    }

    async fn list(&self, q: &ListQuery) -> Result<Page, Error> {
        let (index, hash_attr, hash_value) = plan(q);
        let fkey = q.filters_key();
        let mut start = match &q.next {
            Some(c) => Some(decode_cursor(c, index, &fkey, hash_attr, &hash_value)?),
            None => None,
        };
        let mut filters = Vec::new();
        let mut names = HashMap::from([("#h".to_string(), hash_attr.to_string())]);
        let mut values = HashMap::from([(":h".to_string(), AttributeValue::S(hash_value))]);
        let mut add = |attr: &str, value: Option<AttributeValue>| {
            if let Some(v) = value
                && attr != hash_attr
            {
                let n = filters.len();
                filters.push(format!("#f{n} = :f{n}"));
                names.insert(format!("#f{n}"), attr.to_string());
                values.insert(format!(":f{n}"), v);
            }
        };
        let s = |v: String| AttributeValue::S(v);
        add("status", q.status.map(|st| s(st.as_str().to_owned())));
        add("user", q.user.clone().map(s));
        add("type", q.task_type.map(|t| s(t.as_str().to_owned())));
        add("device", q.device.clone().map(s));
        add("port", q.port.map(|p| AttributeValue::N(p.to_string())));
        let filter = (!filters.is_empty()).then(|| filters.join(" AND "));
        // The date range is an id range (ids begin with their creation time), so it goes in
        // the key condition: the index reads only the range's rows.
        let mut key_condition = "#h = :h".to_string();
        let (lo, hi) = q.id_range();
        match (&lo, &hi) {
            (Some(_), Some(_)) => key_condition.push_str(" AND id BETWEEN :lo AND :hi"),
            (Some(_), None) => key_condition.push_str(" AND id >= :lo"),
            (None, Some(_)) => key_condition.push_str(" AND id <= :hi"),
            (None, None) => {}
        }
        if let Some(lo) = lo {
            values.insert(":lo".into(), AttributeValue::S(lo.to_string()));
        }
        if let Some(hi) = hi {
            values.insert(":hi".into(), AttributeValue::S(hi.to_string()));
        }

        // Rounds read no more index rows than the page wants. Why: the store's cost grows
        // with the rows a query reads and returns (the emulator's roughly linearly), and a
        // round of 100 rows for a page of 20 cost 4 times the page's own query
        // (docs/benchmarks.md, "Listing tasks"). The first round reads the page's rows plus
        // one, which tells whether a next page exists; with a FilterExpression, later rounds
        // read 4 times more each, up to 100 rows. When a round matches more rows than the
        // page still wants, the cursor is the key of the last row returned (not the round's
        // LastEvaluatedKey), so the next page starts right after it: no loss, no
        // duplicates. A bounded number of rounds keeps a sparse filter from scanning the
        // whole index in one request; the page then ends early with a cursor.
        let key_of = |t: &Task| -> HashMap<String, AttributeValue> {
            let hash = match hash_attr {
                "device" => t.device.clone(),
                "user" => t.user.clone(),
                "status" => t.status.as_str().to_owned(),
                _ => "task".to_owned(),
            };
            HashMap::from([
                ("id".to_string(), AttributeValue::S(t.id.to_string())),
                (hash_attr.to_string(), AttributeValue::S(hash)),
            ])
        };
        let first_page = q.next.is_none();
        let mut tasks: Vec<Task> = Vec::with_capacity(q.limit);
        let mut rows: i32 = 0;
        for _ in 0..MAX_ROUNDS {
            let want = i32::try_from(q.limit - tasks.len()).unwrap_or(ROUND_ROWS);
            // One row past the page even for a page of 100: DynamoDB returns a
            // LastEvaluatedKey whenever a query stops at its Limit, so a round of exactly the
            // page's rows would give a cursor to an empty page (moto gives none).
            rows = (want + 1).max(rows.saturating_mul(4)).min(ROUND_ROWS + 1);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(&key_condition)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit(rows)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::sdk("dynamodb:Query", e).into_app(BACKEND))?;
            let items = out.items();
            for (i, item) in items.iter().enumerate() {
                tasks.push(Self::decode(item)?);
                if tasks.len() == q.limit {
                    let more = i + 1 < items.len() || out.last_evaluated_key().is_some();
                    let next = match tasks.last() {
                        Some(t) if more => Some(encode_cursor(index, &fkey, &key_of(t))?),
                        _ => None,
                    };
                    let total = (first_page && next.is_none()).then_some(tasks.len());
                    return Ok(Page { tasks, next, total });
                }
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => {
                    let total = first_page.then_some(tasks.len());
                    return Ok(Page {
                        tasks,
                        next: None,
                        total,
                    });
                }
            }
        }
        let next = match &start {
            Some(k) => Some(encode_cursor(index, &fkey, k)?),
            None => None,
        };
        let total = (first_page && next.is_none()).then_some(tasks.len());
        Ok(Page { tasks, next, total })
    }

    async fn write_status(&self, next: &Task, expected: (Status, u64)) -> Result<(), Error> {
        let mut sets = vec!["version = :v", "updated = :u"];
        let mut removes = Vec::new();
        let mut values = HashMap::from([
            (
                ":st".to_string(),
                AttributeValue::S(next.status.as_str().into()),
            ),
            (
                ":v".to_string(),
                AttributeValue::N(next.version.to_string()),
            ),
            (":u".to_string(), AttributeValue::S(next.updated.clone())),
            (
                ":es".to_string(),
                AttributeValue::S(expected.0.as_str().into()),
            ),
            (":ev".to_string(), AttributeValue::N(expected.1.to_string())),
        ]);
        let mut optional = |attr: &'static str, set: &'static str, v: Option<Value>| match v {
            Some(v) => {
                sets.push(set);
                values.insert(format!(":{attr}"), to_attr(v));
            }
            None => removes.push(attr),
        };
        optional(
            "lease_until",
            "lease_until = :lease_until",
            next.lease_until.map(Value::from),
        );
        optional(
            "lease_holder",
            "lease_holder = :lease_holder",
            next.lease_holder.clone().map(Value::from),
        );
        optional(
            "retry_since",
            "retry_since = :retry_since",
            next.retry_since.map(Value::from),
        );
        optional(
            "started",
            "started = :started",
            next.started.map(Value::from),
        );
        optional("result", "#res = :result", next.result.clone());
        optional(
            "error",
            "#err = :error",
            next.error
                .as_ref()
                .and_then(|e| serde_json::to_value(e).ok()),
        );
        // Why the status goes last: DynamoDB applies an update atomically, but moto applies
        // its actions one by one while other requests read the item, so a read could see a
        // terminal status before its result or error. Set last, a torn read there shows the
        // outcome before the status, which no reader takes for terminal.
        sets.push("#st = :st");
        let mut expr = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            let removes: Vec<&str> = removes
                .iter()
                .map(|r| match *r {
                    "result" => "#res",
                    "error" => "#err",
                    other => other,
                })
                .collect();
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let names = HashMap::from([
            ("#st".to_string(), "status".to_string()),
            ("#res".to_string(), "result".to_string()),
            ("#err".to_string(), "error".to_string()),
        ]);
        let effects = Effects::of_status(expected.0, next);
        if !effects.is_empty() {
            // A terminal write: the task's update and its usage effects in one transaction,
            // so the write that loses its condition (a duplicate delivery) counts nothing.
            let update = Update::builder()
                .table_name(&self.table)
                .key("id", AttributeValue::S(next.id.to_string()))
                .update_expression(expr)
                .condition_expression("#st = :es AND version = :ev")
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .build()
                .map_err(|e| AwsError::sdk("dynamodb:Update", e).into_app(BACKEND))?;
            // The task's update last, as in `create`: on moto, a reader that sees the
            // terminal status sees its counters and points too, and the worker acks no
            // later after that status shows than it did before they existed.
            let mut items = self.effect_items(effects)?;
            items.push(TransactWriteItem::builder().update(update).build());
            return match self.transact(items).await? {
                Committed::Yes => Ok(()),
                Committed::ConditionFailed => Err(Error::Conflict),
            };
        }
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(next.id.to_string()))
            .update_expression(expr)
            .condition_expression("#st = :es AND version = :ev")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(Error::Conflict)
            }
            Err(e) => Err(AwsError::sdk("dynamodb:UpdateItem", e).into_app(BACKEND)),
        }
    }

    /// Per channel, one attribute holds the claim and one the outcome: `notify_until` and
    /// `notified` for the webhook (their names from before email existed), `email_until` and
    /// `notified_email` for email ([`claim_attrs`]). Status writes set named attributes only,
    /// so they leave them alone; task reads decode the outcomes into [`Task::notified`] and
    /// [`Task::notified_email`] and ignore the claims.
    async fn claim_notification(
        &self,
        id: &TaskId,
        channel: Channel,
        now: u64,
        until: u64,
    ) -> Result<bool, Error> {
        let (claim, done) = claim_attrs(channel);
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .update_expression("SET #claim = :until")
            .condition_expression(
                "(#st = :ok OR #st = :failed) AND attribute_not_exists(#done) \
                 AND (attribute_not_exists(#claim) OR #claim < :now)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#claim", claim)
            .expression_attribute_names("#done", done)
            .expression_attribute_values(":ok", AttributeValue::S("succeeded".into()))
            .expression_attribute_values(":failed", AttributeValue::S("failed".into()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":until", AttributeValue::N(until.to_string()))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(AwsError::sdk("dynamodb:UpdateItem", e).into_app(BACKEND)),
        }
    }

    async fn mark_notified(
        &self,
        id: &TaskId,
        channel: Channel,
        outcome: Notified,
    ) -> Result<(), Error> {
        let (claim, done) = claim_attrs(channel);
        self.client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .update_expression("SET #done = :o REMOVE #claim")
            // Never create an item for an id that is not a task.
            .condition_expression("attribute_exists(id)")
            .expression_attribute_names("#claim", claim)
            .expression_attribute_names("#done", done)
            .expression_attribute_values(":o", AttributeValue::S(outcome.as_str().into()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::sdk("dynamodb:UpdateItem", e).into_app(BACKEND))
    }
}

impl UsageStore for DynamoTaskStore {
    async fn counters(
        &self,
        series: &str,
        first_period: &str,
        last_period: &str,
        max_rows: usize,
    ) -> Result<CounterRows, Error> {
        let mut out = CounterRows::default();
        let mut start = None;
        loop {
            let want = max_rows + 1 - out.rows.len();
            let page = self
                .client
                .query()
                .table_name(&self.usage)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", AttributeValue::S(series.to_owned()))
                .expression_attribute_values(":lo", AttributeValue::S(first_period.to_owned()))
                // `$` sorts right after `#`: every `<last_period>#<group>` is below it.
                .expression_attribute_values(":hi", AttributeValue::S(format!("{last_period}$")))
                .limit(i32::try_from(want.min(1000)).unwrap_or(1000))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::sdk("dynamodb:Query", e).into_app(BACKEND))?;
            for item in page.items() {
                let Some(AttributeValue::S(sk)) = item.get("sk") else {
                    return Err(Error::Corrupt("usage item without sk".into()));
                };
                let values = item
                    .iter()
                    .filter_map(|(k, v)| match v {
                        AttributeValue::N(n) => n.parse::<i64>().ok().map(|n| (k.clone(), n)),
                        _ => None,
                    })
                    .collect();
                let row = CounterRow::from_sk(sk, values)
                    .ok_or_else(|| Error::Corrupt(format!("usage key {sk:?}")))?;
                out.rows.push(row);
            }
            if out.rows.len() > max_rows {
                out.rows.truncate(max_rows);
                out.truncated = true;
                return Ok(out);
            }
            match page.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(out),
            }
        }
    }

    async fn coverage_points(
        &self,
        subject: &str,
        from: Option<&TaskId>,
        to: Option<&TaskId>,
        limit: usize,
    ) -> Result<Vec<CoveragePoint>, Error> {
        let mut values = HashMap::from([(":pk".to_string(), AttributeValue::S(subject.into()))]);
        let key = match (from, to) {
            (Some(_), Some(_)) => "pk = :pk AND sk BETWEEN :lo AND :hi",
            (Some(_), None) => "pk = :pk AND sk >= :lo",
            (None, Some(_)) => "pk = :pk AND sk <= :hi",
            (None, None) => "pk = :pk",
        };
        if let Some(f) = from {
            values.insert(":lo".into(), AttributeValue::S(f.to_string()));
        }
        if let Some(t) = to {
            values.insert(":hi".into(), AttributeValue::S(t.to_string()));
        }
        let mut points = Vec::new();
        let mut start = None;
        while points.len() < limit {
            let page = self
                .client
                .query()
                .table_name(&self.usage)
                .key_condition_expression(key)
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit(i32::try_from((limit - points.len()).min(1000)).unwrap_or(1000))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::sdk("dynamodb:Query", e).into_app(BACKEND))?;
            for item in page.items() {
                let v = from_item(item).map_err(|e| e.into_app(BACKEND))?;
                points.push(
                    serde_json::from_value::<CoveragePoint>(v)
                        .map_err(|e| Error::Corrupt(format!("coverage point: {e}")))?,
                );
            }
            match page.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => break,
            }
        }
        points.truncate(limit);
        points.reverse();
        Ok(points)
    }
}

/// The task item's attributes of a channel's notification: (claim, outcome).
fn claim_attrs(channel: Channel) -> (&'static str, &'static str) {
    match channel {
        Channel::Webhook => ("notify_until", "notified"),
        Channel::Email => ("email_until", "notified_email"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_only_for_its_own_query() {
        let key = HashMap::from([
            (
                "id".to_string(),
                AttributeValue::S("01ARZ3NDEKTSV4RRFFQ69G5FAV".into()),
            ),
            ("user".to_string(), AttributeValue::S("alice".into())),
        ]);
        let f = "/alice//";
        let c = encode_cursor("by-user", f, &key).expect("encodes");
        assert_eq!(
            decode_cursor(&c, "by-user", f, "user", "alice").expect("decodes"),
            key
        );
        assert!(decode_cursor(&c, "by-user", f, "user", "bob").is_err());
        assert!(decode_cursor(&c, "by-user", "pending/alice//", "user", "alice").is_err());
        assert!(decode_cursor(&c, "by-status", f, "status", "alice").is_err());
        assert!(decode_cursor("zz", "by-user", f, "user", "alice").is_err());
        let partial = hex::encode(b"{\"i\":\"by-user\"}");
        assert!(decode_cursor(&partial, "by-user", f, "user", "alice").is_err());
    }
}
