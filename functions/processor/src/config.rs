//! The processor function's typed configuration, read once from the environment.

use std::time::Duration;

use ccaas_app::RetryPolicy;
use ccaas_aws::{ConfigError, Env, Stack};
use ccaas_device::{DeviceProfile, HostKeyPolicy};
use ccaas_domain::DeviceAllow;

/// What the processor function (and `ccaas-local`'s worker) reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The stack's tables, queues, bucket, key and AWS call limit.
    pub stack: Stack,
    /// `CCAAS_DEVICES_TABLE`: the DynamoDB `devices` table (sessions and host-key pins).
    pub devices_table: String,
    /// `CCAAS_SITE_URL` (optional): base of report links.
    pub site_url: String,
    /// `CCAAS_LEASE_SECS` (default 900): how long a running task is held.
    pub lease_secs: u64,
    /// `CCAAS_MAX_RECEIVES` (default 16): the queues' maxReceiveCount, a backstop behind the
    /// retry window. It must leave room for the window ([`RetryPolicy::fits`]).
    pub max_receives: u32,
    /// `CCAAS_RETRY_WINDOW_SECS` (default 900), `CCAAS_RETRY_DELAY_SECS` (default 2; the
    /// template sets 30) and `CCAAS_RETRY_MAX_DELAY_SECS` (default 300): a transient failure
    /// is retried for the window after the task's first one, its message coming back after
    /// the delay, doubled per delivery up to the maximum (the processor and `ccaas-local`
    /// shorten its visibility to that).
    pub retry: RetryPolicy,
    /// `CCAAS_DEVICE_PROFILE` (default `bigip`): where things live on the devices, `bigip` or
    /// `simulator:<root>` (the BIG-IP simulator's layout under an absolute root).
    pub device_profile: DeviceProfile,
    /// `CCAAS_WEBHOOK_ALLOW_PRIVATE` (default `off`): `on` lets webhooks reach private
    /// addresses (RFC 1918, CGNAT, IPv6 unique-local: an in-VPC receiver). Never loopback,
    /// link-local or the metadata addresses.
    pub webhook_allow_private: bool,
    /// `CCAAS_WEBHOOK_ALLOW_LOOPBACK` (default `off`): `on` lets webhooks reach loopback
    /// (ccaas-local and tests). The processor Lambda refuses to start with it on: there,
    /// loopback is the Lambda Runtime API.
    pub webhook_allow_loopback: bool,
    /// `CCAAS_DEVICE_ALLOW` (default: every device): the devices tasks may reach, checked again
    /// before each task is run (docs/design.md, "Devices").
    pub device_allow: DeviceAllow,
    /// `CCAAS_HOST_KEY_POLICY` (default `pinned`): with neither a pin nor a fingerprint in the
    /// task, `pinned` refuses the device and `tofu` pins the key of the first login.
    pub host_key_policy: HostKeyPolicy,
    /// `CCAAS_DEVICE_CONCURRENCY` (default 4, 1 to 64): how many devices one batch works
    /// on at once (`ccaas-local`: at once in all).
    pub device_concurrency: usize,
    /// `CCAAS_BATCH_START_RESERVE_SECS` (default 60): on Lambda, no message starts with less
    /// than this left before the invocation's deadline.
    pub start_reserve: Duration,
    /// `CCAAS_SESSION_MAX_AGE_SECS` (default 604800, 7 days): how old an open coverage session
    /// may grow; past it a start on the device takes it over and an end fails
    /// `session_expired`.
    pub session_max_age_secs: u64,
}

impl Config {
    /// Reads the configuration from the process environment. Errors: the first missing or
    /// malformed variable, named.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    /// Reads the configuration through `env` (testable without touching the environment).
    pub fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let max_receives = env.number("CCAAS_MAX_RECEIVES", 16)?;
        let max_receives = u32::try_from(max_receives).map_err(|_| ConfigError::Invalid {
            name: "CCAAS_MAX_RECEIVES",
            why: format!("{max_receives} is too large"),
        })?;
        let retry = RetryPolicy {
            window: Duration::from_secs(env.number("CCAAS_RETRY_WINDOW_SECS", 900)?),
            delay: Duration::from_secs(env.number("CCAAS_RETRY_DELAY_SECS", 2)?),
            max_delay: Duration::from_secs(env.number("CCAAS_RETRY_MAX_DELAY_SECS", 300)?),
        };
        // Why refused at start: a queue that gives up on a message before the window is over
        // would leave its task pending or running, unfinished, in the dead-letter queue.
        retry
            .fits(max_receives)
            .map_err(|why| ConfigError::Invalid {
                name: "CCAAS_MAX_RECEIVES",
                why: format!("with CCAAS_RETRY_WINDOW_SECS and CCAAS_RETRY_DELAY_SECS: {why}"),
            })?;
        Ok(Config {
            stack: Stack::read(env)?,
            devices_table: env.required("CCAAS_DEVICES_TABLE")?,
            site_url: env.raw("CCAAS_SITE_URL").unwrap_or_default(),
            lease_secs: env.number("CCAAS_LEASE_SECS", 900)?,
            max_receives,
            retry,
            device_profile: device_profile(env.raw("CCAAS_DEVICE_PROFILE"))?,
            webhook_allow_private: env.switch("CCAAS_WEBHOOK_ALLOW_PRIVATE", false)?,
            webhook_allow_loopback: env.switch("CCAAS_WEBHOOK_ALLOW_LOOPBACK", false)?,
            device_allow: device_allow(env)?,
            host_key_policy: match env.optional("CCAAS_HOST_KEY_POLICY") {
                None => HostKeyPolicy::default(),
                Some(v) => HostKeyPolicy::parse(v.trim()).ok_or_else(|| ConfigError::Invalid {
                    name: "CCAAS_HOST_KEY_POLICY",
                    why: format!(
                        "{:?} is not pinned or tofu",
                        v.chars().take(32).collect::<String>()
                    ),
                })?,
            },
            device_concurrency: match env.number("CCAAS_DEVICE_CONCURRENCY", 4)? {
                n @ 1..=64 => n as usize,
                n => {
                    return Err(ConfigError::Invalid {
                        name: "CCAAS_DEVICE_CONCURRENCY",
                        why: format!("{n} is not between 1 and 64"),
                    });
                }
            },
            start_reserve: Duration::from_secs(env.number("CCAAS_BATCH_START_RESERVE_SECS", 60)?),
            session_max_age_secs: match env.number(
                "CCAAS_SESSION_MAX_AGE_SECS",
                ccaas_coverage::DEFAULT_SESSION_MAX_AGE_SECS,
            )? {
                0 => {
                    return Err(ConfigError::Invalid {
                        name: "CCAAS_SESSION_MAX_AGE_SECS",
                        why: "must be at least 1 second".into(),
                    });
                }
                n => n,
            },
        })
    }
}

/// Reads `CCAAS_DEVICE_ALLOW` (the submit function parses the same variable). Errors:
/// the variable, named, with its first bad entry.
pub fn device_allow<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<DeviceAllow, ConfigError> {
    DeviceAllow::parse(&env.raw("CCAAS_DEVICE_ALLOW").unwrap_or_default()).map_err(|why| {
        ConfigError::Invalid {
            name: "CCAAS_DEVICE_ALLOW",
            why,
        }
    })
}

/// Parses `CCAAS_DEVICE_PROFILE`: unset or `bigip`, or `simulator:<absolute root>`.
fn device_profile(v: Option<String>) -> Result<DeviceProfile, ConfigError> {
    let invalid = |why: String| ConfigError::Invalid {
        name: "CCAAS_DEVICE_PROFILE",
        why,
    };
    let v = v.unwrap_or_default();
    let profile = match v.trim() {
        "" | "bigip" => DeviceProfile::bigip(),
        other => match other.strip_prefix("simulator:") {
            Some(root) => DeviceProfile::simulator(root),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with(extra: &'static str, value: Option<&'static str>) -> Result<Config, ConfigError> {
        Config::read(&Env::new(move |k: &str| {
            if k == extra {
                value.map(str::to_string)
            } else if k == "CCAAS_AWS_TIMEOUT_SECS" || !k.starts_with("CCAAS_") {
                None
            } else {
                matches!(
                    k,
                    "CCAAS_TASKS_TABLE"
                        | "CCAAS_USAGE_TABLE"
                        | "CCAAS_DEVICES_TABLE"
                        | "CCAAS_QUEUE_URL"
                        | "CCAAS_HIGH_QUEUE_URL"
                        | "CCAAS_BUCKET"
                        | "CCAAS_KMS_KEY"
                )
                .then(|| "x".to_string())
            }
        }))
    }

    #[test]
    fn the_devices_table_is_required_and_named() {
        let e = with("CCAAS_DEVICES_TABLE", None).unwrap_err();
        assert!(e.to_string().contains("CCAAS_DEVICES_TABLE"), "{e}");
    }

    #[test]
    fn the_device_profile_defaults_to_bigip_and_takes_a_simulator_root() {
        let profile = |p| with("CCAAS_DEVICE_PROFILE", p);
        let bigip = DeviceProfile::bigip();
        assert_eq!(profile(None).unwrap().device_profile, bigip);
        assert_eq!(profile(Some("bigip")).unwrap().device_profile, bigip);
        let sim = profile(Some("simulator:/tmp/bigip-sim-2222")).unwrap();
        assert_eq!(
            sim.device_profile,
            DeviceProfile::simulator("/tmp/bigip-sim-2222")
        );
        for bad in [
            "simulator:relative",
            "simulator:/tmp/a;rm -rf",
            "sim",
            "simulator:/a/../b",
        ] {
            let e = profile(Some(bad)).unwrap_err();
            assert!(e.to_string().contains("CCAAS_DEVICE_PROFILE"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_allow_list_and_host_key_policy_are_read_and_a_bad_value_is_named() {
        let c = with("CCAAS_DEVICE_ALLOW", None).unwrap();
        assert!(!c.device_allow.is_restricted());
        assert_eq!(c.host_key_policy, HostKeyPolicy::Pinned);
        let c = with("CCAAS_DEVICE_ALLOW", Some("10.0.0.0/8:22, [fd00::/8]:22")).unwrap();
        assert!(c.device_allow.is_restricted());
        let tofu = with("CCAAS_HOST_KEY_POLICY", Some("tofu")).unwrap();
        assert_eq!(tofu.host_key_policy, HostKeyPolicy::Tofu);
        for (name, bad) in [
            ("CCAAS_DEVICE_ALLOW", "10.0.0.0/8:0"),
            ("CCAAS_DEVICE_ALLOW", "bigip.lab"),
            ("CCAAS_HOST_KEY_POLICY", "trust"),
        ] {
            let e = with(name, Some(bad)).unwrap_err();
            assert!(e.to_string().contains(name), "{bad}: {e}");
        }
    }

    #[test]
    fn a_malformed_number_is_named() {
        for name in [
            "CCAAS_LEASE_SECS",
            "CCAAS_MAX_RECEIVES",
            "CCAAS_RETRY_DELAY_SECS",
            "CCAAS_RETRY_WINDOW_SECS",
            "CCAAS_RETRY_MAX_DELAY_SECS",
        ] {
            let e = with(name, Some("soon")).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
        let e = with("CCAAS_MAX_RECEIVES", Some("99999999999")).unwrap_err();
        assert!(e.to_string().contains("CCAAS_MAX_RECEIVES"), "{e}");
        let c = with("CCAAS_RETRY_WINDOW_SECS", None).unwrap();
        assert_eq!((c.max_receives, c.retry), (16, RetryPolicy::default()));
        for n in ["0", "65"] {
            let e = with("CCAAS_DEVICE_CONCURRENCY", Some(n)).unwrap_err();
            assert!(e.to_string().contains("CCAAS_DEVICE_CONCURRENCY"), "{e}");
        }
        assert_eq!(
            with("CCAAS_DEVICE_CONCURRENCY", None)
                .unwrap()
                .device_concurrency,
            4
        );
    }

    #[test]
    fn a_receive_count_too_small_for_the_retry_window_is_refused_with_the_numbers() {
        let e = with("CCAAS_MAX_RECEIVES", Some("5"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CCAAS_MAX_RECEIVES"), "{e}");
        assert!(e.contains("CCAAS_RETRY_WINDOW_SECS"), "{e}");
        assert!(e.contains("add up to only 6 s"), "{e}");
        let short = Config::read(&Env::new(|k: &str| match k {
            "CCAAS_MAX_RECEIVES" => Some("1".into()),
            "CCAAS_RETRY_WINDOW_SECS" => Some("0".into()),
            "CCAAS_DEVICES_TABLE"
            | "CCAAS_TASKS_TABLE"
            | "CCAAS_USAGE_TABLE"
            | "CCAAS_QUEUE_URL"
            | "CCAAS_HIGH_QUEUE_URL"
            | "CCAAS_BUCKET"
            | "CCAAS_KMS_KEY" => Some("x".into()),
            _ => None,
        }))
        .unwrap();
        assert_eq!(
            short.retry.window,
            Duration::ZERO,
            "a zero window needs no retry"
        );
    }
}
