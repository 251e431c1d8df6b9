//! The S3 adapters, all on the one site bucket: task logs ([`ccaas_app::LogStore`], `logs/`),
//! raw artifacts ([`ccaas_app::ArtifactStore`], `raw/`), build notes and sources
//! ([`ccaas_app::ports::BuildStore`], `builds/`), coverage indexes
//! ([`ccaas_app::ports::IndexStore`], `index/coverage/`), the report site
//! ([`ccaas_app::ports::ReportSite`]) and the search index's files
//! ([`ccaas_app::ports::IndexFiles`], `index/search/`). The `ccaas` command line's only AWS dependency.

pub mod artifacts;
pub mod builds;
pub mod index;
pub mod indexes;
pub mod objects;
pub mod site;

pub use artifacts::S3Artifacts;
pub use builds::S3Builds;
pub use index::S3IndexFiles;
pub use indexes::S3Indexes;
pub use objects::S3Logs;
pub use site::S3Site;

/// An S3 client (path-style, which emulators need and AWS accepts) from the process's shared
/// SDK configuration ([`ccaas_aws::sdk_config`]).
pub fn client(sdk: &ccaas_aws::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}
