//! The coverage session use case: [`CoverageRunner`] does the device work of start and end
//! tasks for the [`ccaas_app::Worker`].
//!
//! - **start**: check the device's open session, reset the counters on the device, record the
//!   session (a conditional write: at most one open session per device).
//! - **end**: find the session, then two stages, each idempotent and restartable:
//!   1. *collect*: device → `raw/<task-id>/gcda.tar.gz`, then `raw/<task-id>/facts.json`;
//!   2. *render*: raw archive → gcov engine → report files → `reports/<task-id>/`, `index.html`
//!      last; the session's coverage index → `index/coverage/<build>/<session>.idx`; then
//!      close the session.
//!
//! The runner is generic over its roles ([`Connector`], [`ccaas_app::SessionStore`],
//! [`ccaas_app::ArtifactStore`], [`ccaas_app::ports::ReportSite`], [`ccaas_app::LogStore`]) so the
//! unit tests run it on in-memory twins. See `docs/design.md` ("Coverage sessions").

pub mod connector;
pub mod error;
pub mod index;
mod merge;
pub mod paths;
pub mod publish;
pub mod render;
pub mod runner;
pub mod unpack;

pub use connector::{Connector, SshConnector};
pub use error::CoverageError;
pub use render::{BuildNotes, RenderWarning, Rendered, ReportFile, model, render, write_report};
pub use runner::{
    Collected, CoverageRunner, DEFAULT_SESSION_MAX_AGE_SECS, Discarded, RunnerConfig,
};
pub use unpack::{
    Span, SpillError, Spilled, UnpackLimits, Unpacked, unpack, unpack_notes, unpack_sources,
};
