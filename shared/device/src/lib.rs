//! The device driver: talks to a BIG-IP over SSH and runs the coverage session protocol.
//!
//! - [`DeviceTarget`] says how to reach a device, [`DeviceProfile`] where it keeps things.
//! - [`Device`] is the session protocol (`identify`, `start`, `end`); [`SshDevice`] implements
//!   it over SSH (russh), [`MemoryDevice`] in memory for unit tests of callers.
//! - [`facts`] holds what the driver learns and compares ([`SessionFacts`], [`EndFacts`]) and
//!   the parsing of command output (pure); [`session`] the SSH session flow.
//! - Host keys are pinned behind `ccaas_app::ports::HostKeyPins`, only after a successful login
//!   (policy `pinned` or `tofu` for a device with neither pin nor fingerprint).
//! - [`DeviceError`] says whether a failure is retryable and gives a stable code.
//!
//! See `docs/device.md`.

pub mod archive;
pub mod error;
pub mod facts;
pub mod log;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod names;
pub mod profile;
pub mod session;
pub mod ssh;
pub mod target;

pub use archive::{ArchiveStats, ArchiveValidator, validate_archive};
/// How `end` makes the daemons write their counters: the domain's type, re-exported.
pub use ccaas_domain::Flush;
pub use error::DeviceError;
pub use facts::{BuildInfo, EndFacts, ModuleEnd, ModuleStart, ProcStart, SessionFacts, Warning};
pub use log::CommandRecord;
#[cfg(any(test, feature = "testing"))]
pub use memory::MemoryDevice;
pub use names::validate_modules;
pub use profile::{DeviceProfile, PidScope};
pub use session::{Device, SshDevice};
pub use target::{Credentials, DeviceTarget, HostKeyPolicy, Limits, Timeouts};
