//! The one typed configuration of every ccaas binary, read from the environment, and the
//! AWS SDK clients built from it once per process.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

/// A missing or malformed environment variable, named.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// A variable is set to something unusable.
    #[error("environment variable {name} is invalid: {why}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        why: String,
    },
}

/// Settings shared by the submit and processor functions and `ccaas-local`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `CCAAS_TASKS_TABLE`: the DynamoDB `tasks` table.
    pub tasks_table: String,
    /// `CCAAS_DEVICES_TABLE`: the DynamoDB `devices` table.
    pub devices_table: String,
    /// `CCAAS_QUEUE_URL`: the normal FIFO queue.
    pub queue_url: String,
    /// `CCAAS_HIGH_QUEUE_URL`: the high-priority FIFO queue.
    pub high_queue_url: String,
    /// `CCAAS_BUCKET`: the report site bucket.
    pub bucket: String,
    /// `CCAAS_KMS_KEY`: the KMS key (id, ARN or alias name) that seals the device access in
    /// queue messages.
    pub kms_key: String,
    /// `CCAAS_API_URL` (optional): base of self links; relative links when unset.
    pub api_url: String,
    /// `CCAAS_SITE_URL` (optional): base of report links.
    pub site_url: String,
    /// `CCAAS_LEASE_SECS` (default 900): how long a running task is held.
    pub lease_secs: u64,
    /// `CCAAS_MAX_RECEIVES` (default 5): the queues' maxReceiveCount.
    pub max_receives: u32,
    /// `CCAAS_AWS_TIMEOUT_SECS` (default 10): the limit of one AWS call, retries included.
    pub aws_timeout: Duration,
    /// `CCAAS_LISTEN` (default `127.0.0.1:3000`): where `ccaas-local` serves HTTP.
    pub listen: String,
    /// `CCAAS_LOCAL_WORKER` (default `on`): `off` runs `ccaas-local` as the API alone, with no
    /// queue poller (for API fuzzing, where generated devices must not be contacted).
    pub local_worker: bool,
    /// `CCAAS_RETRY_DELAY_SECS` (default 2; the template sets 30): how soon a failed message
    /// comes back (the processor and `ccaas-local` shorten its visibility to this).
    pub retry_delay: Duration,
    /// `CCAAS_DEVICE_PROFILE` (default `bigip`): where things live on the devices, `bigip` or
    /// `simulator:<root>` (the BIG-IP simulator's layout under an absolute root).
    pub device_profile: ccaas_device::DeviceProfile,
    /// `CCAAS_AUTH` (default `off`): `jwt` makes every `/v1` call carry a verified bearer
    /// token whose user claim becomes the task's `user`. On AWS the API's JWT authorizer
    /// verifies the token; `ccaas-local` verifies it itself (see [`LocalAuth`]).
    pub auth: bool,
    /// `CCAAS_AUTH_USER_CLAIM` (default `sub`): the token claim that names the user.
    pub auth_user_claim: String,
    /// `CCAAS_WEBHOOK_ALLOW_PRIVATE` (default `off`): `on` lets webhooks reach private
    /// addresses (RFC 1918, CGNAT, IPv6 unique-local: an in-VPC receiver). Never loopback,
    /// link-local or the metadata addresses.
    pub webhook_allow_private: bool,
    /// `CCAAS_WEBHOOK_ALLOW_LOOPBACK` (default `off`): `on` lets webhooks reach loopback
    /// (ccaas-local and tests). The processor Lambda refuses to start with it on: there,
    /// loopback is the Lambda Runtime API.
    pub webhook_allow_loopback: bool,
}

/// How `ccaas-local` verifies bearer tokens when `CCAAS_AUTH=jwt`: what API Gateway's JWT
/// authorizer does on AWS, against keys on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAuth {
    /// `CCAAS_AUTH_JWKS_FILE`: a JSON Web Key Set (RSA, EC or `oct` keys).
    pub jwks_file: std::path::PathBuf,
    /// `CCAAS_AUTH_ISSUER`: the required `iss`.
    pub issuer: String,
    /// `CCAAS_AUTH_AUDIENCE`: the required `aud` (comma-separated for several).
    pub audience: Vec<String>,
}

impl LocalAuth {
    /// Reads the local verifier's settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads them through `get`; every variable is required.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let req = |name: &'static str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let audience: Vec<String> = req("CCAAS_AUTH_AUDIENCE")?
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if audience.is_empty() {
            return Err(ConfigError::Invalid {
                name: "CCAAS_AUTH_AUDIENCE",
                why: "names no audience".into(),
            });
        }
        Ok(LocalAuth {
            jwks_file: req("CCAAS_AUTH_JWKS_FILE")?.into(),
            issuer: req("CCAAS_AUTH_ISSUER")?,
            audience,
        })
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (testable without touching the environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let req = |name: &'static str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let num = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
                    name,
                    why: format!("{v:?} is not a whole number"),
                }),
            }
        };
        Ok(Config {
            tasks_table: req("CCAAS_TASKS_TABLE")?,
            devices_table: req("CCAAS_DEVICES_TABLE")?,
            queue_url: req("CCAAS_QUEUE_URL")?,
            high_queue_url: req("CCAAS_HIGH_QUEUE_URL")?,
            bucket: req("CCAAS_BUCKET")?,
            kms_key: req("CCAAS_KMS_KEY")?,
            api_url: get("CCAAS_API_URL").unwrap_or_default(),
            site_url: get("CCAAS_SITE_URL").unwrap_or_default(),
            lease_secs: num("CCAAS_LEASE_SECS", 900)?,
            max_receives: num("CCAAS_MAX_RECEIVES", 5)? as u32,
            aws_timeout: Duration::from_secs(num("CCAAS_AWS_TIMEOUT_SECS", 10)?.max(1)),
            listen: get("CCAAS_LISTEN")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "127.0.0.1:3000".into()),
            retry_delay: Duration::from_secs(num("CCAAS_RETRY_DELAY_SECS", 2)?),
            local_worker: on_off(&get, "CCAAS_LOCAL_WORKER", true)?,
            webhook_allow_private: on_off(&get, "CCAAS_WEBHOOK_ALLOW_PRIVATE", false)?,
            webhook_allow_loopback: on_off(&get, "CCAAS_WEBHOOK_ALLOW_LOOPBACK", false)?,
            device_profile: device_profile(get("CCAAS_DEVICE_PROFILE"))?,
            auth: match get("CCAAS_AUTH").as_deref().map(str::trim) {
                None | Some("") | Some("off") => false,
                Some("jwt") => true,
                Some(v) => {
                    return Err(ConfigError::Invalid {
                        name: "CCAAS_AUTH",
                        why: format!("{v:?} is not off or jwt"),
                    });
                }
            },
            auth_user_claim: get("CCAAS_AUTH_USER_CLAIM")
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "sub".into()),
        })
    }
}

/// Parses an `on`/`off` switch, `default` when unset or empty.
fn on_off(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(v) => Err(ConfigError::Invalid {
            name,
            why: format!("{v:?} is not on or off"),
        }),
    }
}

/// Parses `CCAAS_DEVICE_PROFILE`: unset or `bigip`, or `simulator:<absolute root>`.
fn device_profile(v: Option<String>) -> Result<ccaas_device::DeviceProfile, ConfigError> {
    let invalid = |why: String| ConfigError::Invalid {
        name: "CCAAS_DEVICE_PROFILE",
        why,
    };
    let v = v.unwrap_or_default();
    let profile = match v.trim() {
        "" | "bigip" => ccaas_device::DeviceProfile::bigip(),
        other => match other.strip_prefix("simulator:") {
            Some(root) => ccaas_device::DeviceProfile::simulator(root),
            None => {
                return Err(invalid(format!(
                    "{other:?} is neither `bigip` nor `simulator:<root>`"
                )));
            }
        },
    };
    profile
        .validate()
        .map_err(|e| invalid(format!("{v:?}: {e}")))?;
    Ok(profile)
}

/// The SDK clients, built once per process and shared by reference.
#[derive(Clone, Debug)]
pub struct Clients {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// S3 (path-style, which emulators need and AWS accepts).
    pub s3: aws_sdk_s3::Client,
    /// KMS.
    pub kms: aws_sdk_kms::Client,
}

impl Clients {
    /// Builds the clients from the standard AWS environment (`AWS_ENDPOINT_URL` included),
    /// with timeouts so a dead backend gives a prompt error instead of a hang.
    pub async fn new(config: &Config) -> Self {
        let shared = sdk_config(config.aws_timeout).await;
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::new(&shared),
            sqs: aws_sdk_sqs::Client::new(&shared),
            s3: s3_from(&shared),
            kms: aws_sdk_kms::Client::new(&shared),
        }
    }
}

/// The standard AWS environment (`AWS_ENDPOINT_URL`, credentials, region) with timeouts, so a
/// dead backend gives a prompt error instead of a hang: `timeout` bounds one call, retries
/// included.
async fn sdk_config(timeout: Duration) -> aws_config::SdkConfig {
    let attempt = (timeout / 3).max(Duration::from_secs(1));
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(attempt)
        .operation_timeout(timeout)
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

fn s3_from(shared: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(shared)
            .force_path_style(true)
            .build(),
    )
}

/// An S3 client alone (for the `ccaas` command line, which needs no tables or queues), from the
/// standard AWS environment like [`Clients::new`]; `timeout` bounds one call, retries included
/// (uploads of large archives need minutes).
pub async fn s3_client(timeout: Duration) -> aws_sdk_s3::Client {
    s3_from(&sdk_config(timeout).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named() {
        let e =
            Config::from_lookup(|k| (k != "CCAAS_BUCKET").then(|| "x".to_string())).unwrap_err();
        assert!(e.to_string().contains("CCAAS_BUCKET"), "{e}");
        let e =
            Config::from_lookup(|k| (k != "CCAAS_KMS_KEY").then(|| "x".to_string())).unwrap_err();
        assert!(e.to_string().contains("CCAAS_KMS_KEY"), "{e}");
    }

    #[test]
    fn the_device_profile_defaults_to_bigip_and_takes_a_simulator_root() {
        let with = |p: Option<&str>| {
            Config::from_lookup(|k| match k {
                "CCAAS_DEVICE_PROFILE" => p.map(str::to_string),
                "CCAAS_TASKS_TABLE"
                | "CCAAS_DEVICES_TABLE"
                | "CCAAS_QUEUE_URL"
                | "CCAAS_HIGH_QUEUE_URL"
                | "CCAAS_BUCKET"
                | "CCAAS_KMS_KEY" => Some("x".to_string()),
                _ => None,
            })
        };
        let bigip = ccaas_device::DeviceProfile::bigip();
        assert_eq!(with(None).unwrap().device_profile, bigip);
        assert_eq!(with(Some("bigip")).unwrap().device_profile, bigip);
        let sim = with(Some("simulator:/tmp/bigip-sim-2222")).unwrap();
        assert_eq!(
            sim.device_profile,
            ccaas_device::DeviceProfile::simulator("/tmp/bigip-sim-2222")
        );
        for bad in [
            "simulator:relative",
            "simulator:/tmp/a;rm -rf",
            "sim",
            "simulator:/a/../b",
        ] {
            let e = with(Some(bad)).unwrap_err();
            assert!(e.to_string().contains("CCAAS_DEVICE_PROFILE"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_malformed_number_is_named() {
        let e = Config::from_lookup(|k| {
            Some(if k == "CCAAS_LEASE_SECS" { "soon" } else { "x" }.to_string())
        })
        .unwrap_err();
        assert!(e.to_string().contains("CCAAS_LEASE_SECS"), "{e}");
    }

    fn required(k: &str) -> Option<String> {
        matches!(
            k,
            "CCAAS_TASKS_TABLE"
                | "CCAAS_DEVICES_TABLE"
                | "CCAAS_QUEUE_URL"
                | "CCAAS_HIGH_QUEUE_URL"
                | "CCAAS_BUCKET"
                | "CCAAS_KMS_KEY"
        )
        .then(|| "x".to_string())
    }

    #[test]
    fn auth_is_off_by_default_and_jwt_reads_the_user_claim() {
        let off = Config::from_lookup(required).unwrap();
        assert!(!off.auth);
        assert_eq!(off.auth_user_claim, "sub");
        let on = Config::from_lookup(|k| match k {
            "CCAAS_AUTH" => Some("jwt".into()),
            "CCAAS_AUTH_USER_CLAIM" => Some("email".into()),
            _ => required(k),
        })
        .unwrap();
        assert!(on.auth);
        assert_eq!(on.auth_user_claim, "email");
        let e = Config::from_lookup(|k| match k {
            "CCAAS_AUTH" => Some("yes".into()),
            _ => required(k),
        })
        .unwrap_err();
        assert!(e.to_string().contains("CCAAS_AUTH"), "{e}");
    }

    #[test]
    fn the_local_verifier_names_each_missing_setting() {
        let all = |k: &str| match k {
            "CCAAS_AUTH_JWKS_FILE" => Some("/tmp/jwks.json".to_string()),
            "CCAAS_AUTH_ISSUER" => Some("https://issuer.test".to_string()),
            "CCAAS_AUTH_AUDIENCE" => Some("ccaas, ccaas-cli".to_string()),
            _ => None,
        };
        let ok = LocalAuth::from_lookup(all).unwrap();
        assert_eq!(ok.audience, ["ccaas", "ccaas-cli"]);
        for missing in [
            "CCAAS_AUTH_JWKS_FILE",
            "CCAAS_AUTH_ISSUER",
            "CCAAS_AUTH_AUDIENCE",
        ] {
            let e =
                LocalAuth::from_lookup(|k| if k == missing { None } else { all(k) }).unwrap_err();
            assert!(e.to_string().contains(missing), "{e}");
        }
        let e = LocalAuth::from_lookup(|k| {
            if k == "CCAAS_AUTH_AUDIENCE" {
                Some(" , ".into())
            } else {
                all(k)
            }
        })
        .unwrap_err();
        assert!(e.to_string().contains("CCAAS_AUTH_AUDIENCE"), "{e}");
    }
}
