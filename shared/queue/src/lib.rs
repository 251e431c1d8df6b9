//! The task queue on SQS FIFO queues ([`ccaas_app::TaskQueue`], and the receive-side helpers
//! the processor and `ccaas-local` settle batches with), and the KMS sealer
//! ([`ccaas_app::Sealer`]) of the device access those messages carry.

pub mod kms;
pub mod sqs;

pub use kms::KmsSealer;
pub use sqs::SqsTaskQueue;

/// An SQS client from the process's shared SDK configuration ([`ccaas_aws::sdk_config`]).
pub fn sqs_client(sdk: &ccaas_aws::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(sdk)
}

/// A KMS client from the process's shared SDK configuration ([`ccaas_aws::sdk_config`]).
pub fn kms_client(sdk: &ccaas_aws::SdkConfig) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(sdk)
}
