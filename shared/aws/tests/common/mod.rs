//! The emulator of the adapter tests: a private moto_server started through `localstack/up`,
//! stopped when dropped.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A moto_server of this test alone, stopped when dropped.
pub struct Emulator {
    /// `KEY=VALUE` pairs printed by `localstack/up`.
    pub env: Vec<(String, String)>,
    /// Its port.
    pub port: u16,
}

impl Emulator {
    /// Starts one on a free port and creates the ccaas resources.
    pub fn private() -> Emulator {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let out = Command::new(repo().join("localstack/up"))
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
            .stderr(Stdio::inherit())
            .output()
            .expect("localstack/up runs");
        assert!(out.status.success(), "localstack/up failed");
        let env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        Emulator { env, port }
    }

    /// One variable of its environment.
    pub fn var(&self, k: &str) -> String {
        self.env
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} not in the emulator env"))
    }

    /// An S3 client on it (path-style, as emulators need).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(self.var("AWS_ENDPOINT_URL"))
            .region(aws_sdk_s3::config::Region::new(self.var("AWS_REGION")))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("localstack/down"))
            .env(
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            )
            .status();
    }
}
