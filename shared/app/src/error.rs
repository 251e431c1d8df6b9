//! The one error type of the use cases; the HTTP and SQS boundaries map it to responses.

use ccaas_domain::{FieldError, Status};

/// What can go wrong in a use case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; the field is named.
    #[error("invalid request: {0}")]
    Invalid(#[source] FieldError),
    /// Refused with a 403 of its own code (a device outside the allow-list,
    /// `device_not_allowed`; an admin call by a non-admin, `forbidden`); the field says which.
    #[error("refused: {0}")]
    Refused(#[source] FieldError),
    /// Well-formed, but what it names cannot be used: answered `422` with its own code (a
    /// merge naming a task that is no succeeded end task, `not_mergeable`; end tasks of
    /// several builds, `mixed_builds`); the field says which.
    #[error("unprocessable: {0}")]
    Unprocessable(#[source] FieldError),
    /// No such task (or not the caller's to see).
    #[error("task not found")]
    NotFound,
    /// Something the request names does not exist, answered `404` with the field's own code
    /// (`GET /v1/compare`: `not_found` for an unknown task, `no_index` for a task without a
    /// coverage index); the field says which.
    #[error("not found: {0}")]
    Absent(#[source] FieldError),
    /// What the request names cannot be used as asked, answered `409` with its own code
    /// (`GET /v1/compare`: `not_comparable`, `task_not_succeeded`, `different_builds`); the
    /// field says which.
    #[error("conflict: {0}")]
    Incompatible(#[source] FieldError),
    /// The Idempotency-Key was used before with another body.
    #[error("the Idempotency-Key was already used with a different body")]
    IdempotencyConflict,
    /// A conditional write lost: someone else changed the task first.
    #[error("the task changed concurrently")]
    Conflict,
    /// The task is no longer pending (it runs or has finished), so it cannot be cancelled.
    #[error("the task is {} and can no longer be cancelled", .0.as_str())]
    NotPending(Status),
    /// The caller may not act on this task: it is another user's and the caller is no admin.
    #[error("{0}")]
    Forbidden(String),
    /// The store, queue or log backend did not answer. Retryable.
    #[error("{backend} is unavailable")]
    Unavailable {
        /// `task store`, `task queue` or `log store`.
        backend: &'static str,
        /// The backend's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Something this deployment does not provide (search where no index is configured):
    /// answered `503` with `code`. Not retryable: it stays so until the deployment changes.
    #[error("{message}")]
    NotConfigured {
        /// The stable error code, such as `search_unavailable`.
        code: &'static str,
        /// What is missing and what to do, for people.
        message: &'static str,
    },
    /// A stored item could not be read back (a bug or a hand-edited item).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl Error {
    /// Whether retrying later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Conflict)
    }
}
