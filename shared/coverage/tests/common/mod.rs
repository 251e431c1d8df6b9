//! Test support shared by the runner tests: the in-memory device behind a connector.
#![allow(dead_code)]

use std::sync::Arc;

use ccaas_coverage::Connector;
use ccaas_device::{
    BuildInfo, CommandRecord, Device, DeviceError, EndFacts, Flush, MemoryDevice, SessionFacts,
};
use ccaas_domain::DeviceAccess;
use tokio::io::AsyncWrite;

/// A shared in-memory device, handed out by the connector for every task.
#[derive(Clone)]
pub struct Shared(pub Arc<MemoryDevice>);

impl Device for Shared {
    async fn identify(&self) -> Result<BuildInfo, DeviceError> {
        self.0.identify().await
    }
    async fn start(&self, modules: &[String], flush: Flush) -> Result<SessionFacts, DeviceError> {
        self.0.start(modules, flush).await
    }
    async fn end(
        &self,
        session: &SessionFacts,
        flush: Flush,
        sink: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<EndFacts, DeviceError> {
        self.0.end(session, flush, sink).await
    }
    fn take_log(&self) -> Vec<CommandRecord> {
        self.0.take_log()
    }
}

impl Connector for Shared {
    type Device = Shared;
    fn device(&self, _access: &DeviceAccess) -> Shared {
        self.clone()
    }
}
