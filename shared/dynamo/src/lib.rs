//! The DynamoDB adapters: the `tasks` table behind [`ccaas_app::TaskStore`] and the `devices`
//! table behind [`ccaas_app::SessionStore`] and [`ccaas_app::ports::HostKeyPins`].

pub mod attr;
pub mod devices;
pub mod tasks;

pub use devices::DynamoDevices;
pub use tasks::DynamoTaskStore;

/// A DynamoDB client from the process's shared SDK configuration ([`ccaas_aws::sdk_config`]).
pub fn client(sdk: &ccaas_aws::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}
