//! The DynamoDB `devices` table behind [`SessionStore`] and the driver's [`HostKeyPins`].
//!
//! One item per device, key `host` = `<host>:<port>` ([`ccaas_app::device_key`]): attribute
//! `session` holds the open coverage session (a map, absent when none is open) and
//! `host_key_sha256` the pinned host key. Both are written with conditional updates that touch
//! only their own attribute, so the two roles never overwrite each other.

use aws_sdk_dynamodb::types::AttributeValue;
use ccaas_app::ports::{HostKeyPins, PinOutcome};
use ccaas_app::{DeviceSession, Error, Opened, SessionPage, SessionStore, device_key};
use ccaas_domain::TaskId;

use crate::attr::{from_item, to_attr};
use ccaas_aws::AwsError;

const BACKEND: &str = "device store";

/// Items one Scan round of [`SessionStore::list`] reads (before the filter).
const SCAN_ROUND: i32 = 100;
/// Scan rounds one list call reads at most: past them it returns a short page with a cursor,
/// so a fleet with few open sessions never makes one request walk the whole table.
const SCAN_ROUNDS: usize = 10;

/// The cursor of a session listing: `s1.` and the hex of the last device key returned.
fn session_cursor(device: &str) -> String {
    format!("s1.{}", hex::encode(device))
}

fn parse_session_cursor(cursor: &str) -> Result<String, Error> {
    cursor
        .strip_prefix("s1.")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            Error::Invalid(ccaas_domain::FieldError {
                code: "invalid_field",
                field: "next".into(),
                message: "is not a cursor from this API".into(),
            })
        })
}

/// Sessions and pins on one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoDevices {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn conditional_failed<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

impl DynamoDevices {
    /// The store on `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoDevices {
            client,
            table: table.into(),
        }
    }

    /// Reads one attribute of a device's item (a consistent read).
    async fn attribute(
        &self,
        device: &str,
        attr: &str,
    ) -> Result<Option<serde_json::Value>, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("host", AttributeValue::S(device.to_string()))
            .consistent_read(true)
            .projection_expression("#a")
            .expression_attribute_names("#a", attr)
            .send()
            .await
            .map_err(|e| AwsError::sdk("dynamodb:GetItem", e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let v = from_item(item)?;
        Ok(v.get(attr).cloned().filter(|v| !v.is_null()))
    }
}

fn decode_session(v: serde_json::Value) -> Result<DeviceSession, Error> {
    serde_json::from_value(v).map_err(|e| Error::Corrupt(format!("device session: {e}")))
}

impl SessionStore for DynamoDevices {
    async fn open(&self, device: &str, session: &DeviceSession) -> Result<Opened, Error> {
        let value = serde_json::to_value(session).map_err(|e| Error::Corrupt(e.to_string()))?;
        // A conditional write that loses is followed by a read; if the session closed in
        // between, the write is tried again (a few times: each loss means progress elsewhere).
        for _ in 0..3 {
            let r = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("host", AttributeValue::S(device.to_string()))
                .update_expression("SET #s = :s")
                .condition_expression("attribute_not_exists(#s)")
                .expression_attribute_names("#s", "session")
                .expression_attribute_values(":s", to_attr(value.clone()))
                .send()
                .await;
            match r {
                Ok(_) => return Ok(Opened::New),
                Err(e) if conditional_failed(&e) => {}
                Err(e) => return Err(AwsError::sdk("dynamodb:UpdateItem", e).into_app(BACKEND)),
            }
            match self
                .attribute(device, "session")
                .await
                .map_err(|e| e.into_app(BACKEND))?
            {
                Some(v) => {
                    let cur = decode_session(v)?;
                    return Ok(if cur.id == session.id {
                        Opened::Already
                    } else {
                        Opened::Busy(cur.id)
                    });
                }
                None => continue,
            }
        }
        Err(Error::Conflict)
    }

    async fn current(&self, device: &str) -> Result<Option<DeviceSession>, Error> {
        self.attribute(device, "session")
            .await
            .map_err(|e| e.into_app(BACKEND))?
            .map(decode_session)
            .transpose()
    }

    async fn close(&self, device: &str, id: &TaskId) -> Result<bool, Error> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("host", AttributeValue::S(device.to_string()))
            .update_expression("REMOVE #s")
            .condition_expression("#s.#id = :id")
            .expression_attribute_names("#s", "session")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":id", AttributeValue::S(id.to_string()))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(AwsError::sdk("dynamodb:UpdateItem", e).into_app(BACKEND)),
        }
    }

    /// A Scan of the devices table filtered to items with a session (a lab fleet is small:
    /// at most [`SCAN_ROUNDS`] rounds of [`SCAN_ROUND`] items per call, then a short page with
    /// a cursor). Scan order is the table's hash order, stable for a cursor's walk.
    async fn list(&self, next: Option<&str>, limit: usize) -> Result<SessionPage, Error> {
        let mut start = match next {
            Some(c) => Some(std::collections::HashMap::from([(
                "host".to_string(),
                AttributeValue::S(parse_session_cursor(c)?),
            )])),
            None => None,
        };
        let mut sessions = Vec::new();
        for _ in 0..SCAN_ROUNDS {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .limit(SCAN_ROUND)
                .filter_expression("attribute_exists(#s)")
                .projection_expression("#h, #s")
                .expression_attribute_names("#h", "host")
                .expression_attribute_names("#s", "session")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::sdk("dynamodb:Scan", e).into_app(BACKEND))?;
            let items = out.items();
            for (i, item) in items.iter().enumerate() {
                let v = from_item(item).map_err(|e| e.into_app(BACKEND))?;
                let device = v
                    .get("host")
                    .and_then(|h| h.as_str())
                    .ok_or_else(|| Error::Corrupt("device item without host".into()))?
                    .to_owned();
                let Some(session) = v.get("session").cloned().filter(|s| !s.is_null()) else {
                    continue;
                };
                sessions.push((device, decode_session(session)?));
                if sessions.len() == limit {
                    let more = i + 1 < items.len() || out.last_evaluated_key().is_some();
                    let next = more.then(|| session_cursor(&sessions[limit - 1].0));
                    return Ok(SessionPage { sessions, next });
                }
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => {
                    return Ok(SessionPage {
                        sessions,
                        next: None,
                    });
                }
            }
        }
        // The read bound: a short page, and the cursor where the scan stopped.
        let next = start
            .as_ref()
            .and_then(|k| k.get("host"))
            .and_then(|h| h.as_s().ok())
            .map(|h| session_cursor(h));
        Ok(SessionPage { sessions, next })
    }
}

impl HostKeyPins for DynamoDevices {
    async fn pinned(&self, host: &str, port: u16) -> Result<Option<String>, Error> {
        let v = self
            .attribute(&device_key(host, port), "host_key_sha256")
            .await
            .map_err(|e| e.into_app(BACKEND))?;
        Ok(v.and_then(|v| v.as_str().map(str::to_owned)))
    }

    async fn pin(&self, host: &str, port: u16, sha256: &str) -> Result<PinOutcome, Error> {
        let key = device_key(host, port);
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("host", AttributeValue::S(key.clone()))
            .update_expression("SET #k = :k")
            .condition_expression("attribute_not_exists(#k) OR #k = :k")
            .expression_attribute_names("#k", "host_key_sha256")
            .expression_attribute_values(":k", AttributeValue::S(sha256.to_string()))
            .send()
            .await;
        match r {
            Ok(_) => Ok(PinOutcome::Pinned),
            Err(e) if conditional_failed(&e) => {
                let pinned = self
                    .attribute(&key, "host_key_sha256")
                    .await
                    .map_err(|e| e.into_app(BACKEND))?
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                Ok(PinOutcome::Differs { pinned })
            }
            Err(e) => Err(AwsError::sdk("dynamodb:UpdateItem", e).into_app(BACKEND)),
        }
    }

    async fn unpin(&self, host: &str, port: u16) -> Result<bool, Error> {
        // REMOVE only the pin: an open session on the item stays.
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("host", AttributeValue::S(device_key(host, port)))
            .update_expression("REMOVE #k")
            .condition_expression("attribute_exists(#k)")
            .expression_attribute_names("#k", "host_key_sha256")
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(AwsError::sdk("dynamodb:UpdateItem", e).into_app(BACKEND)),
        }
    }
}
