//! The queue message on the wire: a [`TaskMessage`] goes out as a [`SealedMessage`] (the device
//! access sealed for its task id) and comes back through [`open`]. Only sealed bodies are
//! read: a plain `{"task_id", "device"}` body (what a submit sent before sealing) is a bad
//! message like any other unreadable body.

use ccaas_domain::{DeviceAccess, SealedMessage, TaskId, TaskMessage};

use crate::{Error, Sealer};

/// Seals a work order for the queue. Errors: the sealer's ([`Error::Unavailable`]).
pub async fn seal<K: Sealer>(sealer: &K, message: &TaskMessage) -> Result<SealedMessage, Error> {
    let plain = serde_json::to_vec(&message.device).map_err(|e| Error::Corrupt(e.to_string()))?;
    Ok(SealedMessage {
        task_id: message.task_id.clone(),
        sealed_device: sealer.seal(&message.task_id, &plain).await?,
    })
}

/// Why a message body did not give a work order.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The body is not a task message, or its seal does not open for its task: it never
    /// will. The text never quotes the body.
    #[error("unreadable message: {0}")]
    Unreadable(String),
    /// The sealer did not answer; a later delivery may pass.
    #[error("the sealer is unavailable")]
    Unavailable(#[source] Error),
}

/// The task id a body names, if it names one, without opening anything.
pub fn task_id_of(body: &str) -> Option<TaskId> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("task_id")?
        .as_str()
        .and_then(TaskId::parse)
}

/// Parses a body without opening its seal: the task id, and the rest to [`open_parsed`].
/// Errors: why the body is not a sealed task message (never quoting it). A body without
/// `sealed_device`, such as an unsealed `{"task_id", "device"}` one, is refused here.
pub fn parse(body: &str) -> Result<(TaskId, Parsed), String> {
    match serde_json::from_str::<SealedMessage>(body) {
        Ok(m) => Ok((m.task_id.clone(), Parsed(m))),
        // serde's message may quote a value, so only its position is kept.
        Err(e) => Err(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        )),
    }
}

/// A parsed body whose device access is still sealed.
pub struct Parsed(SealedMessage);

/// Opens a parsed body's device access.
pub async fn open_parsed<K: Sealer>(sealer: &K, parsed: Parsed) -> Result<TaskMessage, OpenError> {
    let sealed = parsed.0;
    let plain = match sealer.open(&sealed.task_id, &sealed.sealed_device).await {
        Ok(p) => p,
        Err(e) if e.is_retryable() => return Err(OpenError::Unavailable(e)),
        Err(e) => return Err(OpenError::Unreadable(e.to_string())),
    };
    // The plaintext holds the credential: a serde error could quote it, so none is kept.
    let device: DeviceAccess = serde_json::from_slice(&plain).map_err(|_| {
        OpenError::Unreadable("the sealed device access is not valid JSON of the schema".into())
    })?;
    Ok(TaskMessage {
        task_id: sealed.task_id,
        device,
    })
}

/// Parses and opens a body in one step.
pub async fn open<K: Sealer>(sealer: &K, body: &str) -> Result<TaskMessage, OpenError> {
    let (_, parsed) = parse(body).map_err(OpenError::Unreadable)?;
    open_parsed(sealer, parsed).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemorySealer;
    use ccaas_domain::{Credential, Secret};

    fn message(id: &str, password: &str) -> TaskMessage {
        TaskMessage {
            task_id: TaskId::parse(id).unwrap(),
            device: DeviceAccess {
                host: ccaas_domain::DeviceHost::parse("10.0.0.1").unwrap(),
                port: 22,
                username: "root".into(),
                credential: Credential::Password(Secret::new(password)),
                host_key_sha256: None,
            },
        }
    }

    const A: &str = "01JD0000000000000000000000";
    const B: &str = "01JD0000000000000000000001";

    #[tokio::test]
    async fn a_sealed_message_holds_no_credential_and_opens_to_the_same_work_order() {
        let k = MemorySealer::default();
        let m = message(A, "canary-7f3e-secret");
        let sealed = seal(&k, &m).await.unwrap();
        let body = serde_json::to_string(&sealed).unwrap();
        assert!(!body.contains("canary-7f3e-secret"), "{body}");
        assert!(!body.contains("10.0.0.1"), "{body}");
        assert_eq!(open(&k, &body).await.unwrap(), m);
    }

    #[tokio::test]
    async fn a_seal_moved_to_another_tasks_message_does_not_open() {
        let k = MemorySealer::default();
        let sealed = seal(&k, &message(A, "pw")).await.unwrap();
        let forged = SealedMessage {
            task_id: TaskId::parse(B).unwrap(),
            sealed_device: sealed.sealed_device,
        };
        let body = serde_json::to_string(&forged).unwrap();
        assert!(matches!(
            open(&k, &body).await,
            Err(OpenError::Unreadable(_))
        ));
        assert_eq!(task_id_of(&body).unwrap().as_str(), B);
    }

    #[tokio::test]
    async fn an_unsealed_message_is_unreadable_and_its_error_quotes_no_credential() {
        let m = message(A, "canary-unsealed-pw");
        let body = serde_json::to_string(&m).unwrap();
        assert!(
            body.contains("canary-unsealed-pw"),
            "the plain form holds it: {body}"
        );
        match open(&MemorySealer::default(), &body).await {
            Err(OpenError::Unreadable(why)) => {
                assert!(!why.contains("canary-unsealed-pw"), "{why}");
                assert!(!why.contains("10.0.0.1"), "{why}");
            }
            other => panic!("an unsealed body must be unreadable, got {other:?}"),
        }
        assert_eq!(
            task_id_of(&body).unwrap().as_str(),
            A,
            "the task can still be failed"
        );
    }

    #[tokio::test]
    async fn a_sealer_outage_is_retryable_and_garbage_is_not() {
        let k = MemorySealer::default();
        let body = serde_json::to_string(&seal(&k, &message(A, "pw")).await.unwrap()).unwrap();
        k.fail_next(1);
        assert!(matches!(
            open(&k, &body).await,
            Err(OpenError::Unavailable(_))
        ));
        assert!(open(&k, &body).await.is_ok());
        for bad in [
            "",
            "{}",
            "not json",
            r#"{"task_id":"01JD0000000000000000000000","sealed_device":"zz"}"#,
            r#"{"task_id":"01JD0000000000000000000000","sealed_device":""}"#,
        ] {
            assert!(
                matches!(open(&k, bad).await, Err(OpenError::Unreadable(_))),
                "{bad:?}"
            );
        }
    }
}
