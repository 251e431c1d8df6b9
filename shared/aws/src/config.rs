//! Reading configuration from the environment ([`Env`], naming the variable in every error),
//! the settings every binary shares ([`Stack`]: where the stack's tables, queues, bucket and
//! key are, and how long one AWS call may take), and the SDK configuration built from them once
//! per process ([`sdk_config`]). Each binary has its own typed `Config` on top of these.

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

/// Environment variables read through a lookup: the process environment in production
/// ([`Env::process`]), a closure in tests.
pub struct Env<F>(F);

/// The process environment's lookup.
pub type ProcessLookup = fn(&str) -> Option<String>;

impl Env<ProcessLookup> {
    /// The process environment.
    pub fn process() -> Self {
        Env(|k| std::env::var(k).ok())
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Variables read through `get`.
    pub fn new(get: F) -> Self {
        Env(get)
    }

    /// The variable as set, `None` when unset.
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }

    /// The variable trimmed, `None` when unset or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The variable as set. Errors: [`ConfigError::Missing`] when unset or blank.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.raw(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::Missing(name))
    }

    /// A whole number, `default` when unset or blank. Errors: [`ConfigError::Invalid`].
    pub fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                name,
                why: format!("{v:?} is not a whole number"),
            }),
        }
    }

    /// An `on`/`off` switch, `default` when unset or blank. Errors: [`ConfigError::Invalid`].
    pub fn switch(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name).as_deref() {
            None => Ok(default),
            Some("on") => Ok(true),
            Some("off") => Ok(false),
            Some(v) => Err(ConfigError::Invalid {
                name,
                why: format!("{v:?} is not on or off"),
            }),
        }
    }
}

/// Where the stack's resources are, which the submit and processor functions (and
/// `ccaas-local`, which is both) all read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    /// `CCAAS_TASKS_TABLE`: the DynamoDB `tasks` table.
    pub tasks_table: String,
    /// `CCAAS_USAGE_TABLE`: the DynamoDB `usage` table (usage counters and coverage points,
    /// written with the task writes that make them).
    pub usage_table: String,
    /// `CCAAS_QUEUE_URL`: the normal FIFO queue.
    pub queue_url: String,
    /// `CCAAS_HIGH_QUEUE_URL`: the high-priority FIFO queue.
    pub high_queue_url: String,
    /// `CCAAS_BUCKET`: the report site bucket (which also holds logs, raw data and builds).
    pub bucket: String,
    /// `CCAAS_KMS_KEY`: the KMS key (id, ARN or alias name) that seals the device access in
    /// queue messages.
    pub kms_key: String,
    /// `CCAAS_AWS_TIMEOUT_SECS` (default 10): the limit of one AWS call, retries included.
    pub aws_timeout: Duration,
    /// `CCAAS_MAIL_FROM` (optional): the sender of email notices, an address SES has
    /// verified (or of a verified domain). Unset or blank, email is off: the API refuses
    /// `notify.email` with 400 `email_disabled` and the worker sends none.
    pub mail_from: Option<String>,
}

impl Stack {
    /// Reads the stack's settings. Errors: the first missing or malformed variable, named.
    pub fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Stack {
            tasks_table: env.required("CCAAS_TASKS_TABLE")?,
            usage_table: env.required("CCAAS_USAGE_TABLE")?,
            queue_url: env.required("CCAAS_QUEUE_URL")?,
            high_queue_url: env.required("CCAAS_HIGH_QUEUE_URL")?,
            bucket: env.required("CCAAS_BUCKET")?,
            kms_key: env.required("CCAAS_KMS_KEY")?,
            aws_timeout: Duration::from_secs(env.number("CCAAS_AWS_TIMEOUT_SECS", 10)?.max(1)),
            mail_from: match env.optional("CCAAS_MAIL_FROM") {
                None => None,
                Some(from) => {
                    let from = from.trim().to_string();
                    ccaas_domain::submission::check_email(&from).map_err(|why| {
                        ConfigError::Invalid {
                            name: "CCAAS_MAIL_FROM",
                            why: why.to_string(),
                        }
                    })?;
                    Some(from)
                }
            },
        })
    }
}

/// The standard AWS environment (`AWS_ENDPOINT_URL`, credentials, region) with timeouts, so a
/// dead backend gives a prompt error instead of a hang: `timeout` bounds one call, retries
/// included (three attempts, standard backoff). Built once per process; every client is made
/// from it (`ccaas_dynamo::client`, `ccaas_queue::sqs_client`, `ccaas_s3::client`, ...) and
/// shares its HTTP connection pool.
pub async fn sdk_config(timeout: Duration) -> aws_config::SdkConfig {
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

/// Where task search lives: `CCAAS_SEARCH`, the template's `SearchBackend` (docs/design.md,
/// "Search").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchBackend {
    /// `none`: no index; every search answers 503 `search_unavailable`.
    None,
    /// `tantivy`: the index the indexer function keeps on the bucket's `index/search/`, a copy
    /// of which the submit function reads, refreshed on demand.
    Tantivy,
    /// `opensearch`: an OpenSearch index (`CCAAS_OPENSEARCH_*`) the indexer writes and the
    /// submit function queries.
    OpenSearch,
}

impl SearchBackend {
    /// Every backend, in the order the template's `SearchBackend` lists them.
    pub const ALL: [SearchBackend; 3] = [
        SearchBackend::None,
        SearchBackend::Tantivy,
        SearchBackend::OpenSearch,
    ];

    /// The value of `CCAAS_SEARCH` (and of the template parameter).
    pub fn as_str(self) -> &'static str {
        match self {
            SearchBackend::None => "none",
            SearchBackend::Tantivy => "tantivy",
            SearchBackend::OpenSearch => "opensearch",
        }
    }

    /// The backend a `CCAAS_SEARCH` value names, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// Where an OpenSearch index is (with [`SearchBackend::OpenSearch`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenSearchAt {
    /// `CCAAS_OPENSEARCH_ENDPOINT` (required with `opensearch`): `https://host[:port]` of an
    /// OpenSearch Serverless collection, an OpenSearch Service domain or a cluster.
    pub endpoint: String,
    /// `CCAAS_OPENSEARCH_INDEX` (default `ccaas-tasks`): the index.
    pub index: String,
    /// `CCAAS_OPENSEARCH_SERVICE` (default `aoss`): the SigV4 signing name, `aoss` for
    /// Serverless or `es` for a domain; `none` sends unsigned requests (a cluster of one's own).
    pub service: String,
}

/// The search settings the submit and indexer functions read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchSettings {
    /// `CCAAS_SEARCH` (the default is the caller's: `none` for submit, `tantivy` for the
    /// indexer, which the template deploys only with a backend).
    pub backend: SearchBackend,
    /// `CCAAS_INDEX_DIR` (default `ccaas-search` under the temp dir, `/tmp` on Lambda): the
    /// local copy of a tantivy index.
    pub index_dir: std::path::PathBuf,
    /// With `opensearch`, where the index is; `None` otherwise.
    pub opensearch: Option<OpenSearchAt>,
}

impl SearchSettings {
    /// Reads the search settings, `default` when `CCAAS_SEARCH` is unset. Errors: an unknown
    /// `CCAAS_SEARCH`, a missing `CCAAS_OPENSEARCH_ENDPOINT` with `opensearch`, an unknown
    /// `CCAAS_OPENSEARCH_SERVICE`; named.
    pub fn read<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
        default: SearchBackend,
    ) -> Result<Self, ConfigError> {
        let backend = match env.optional("CCAAS_SEARCH") {
            None => default,
            Some(v) => SearchBackend::parse(&v).ok_or_else(|| ConfigError::Invalid {
                name: "CCAAS_SEARCH",
                why: format!(
                    "{:?} is not one of {}",
                    v.chars().take(32).collect::<String>(),
                    SearchBackend::ALL.map(SearchBackend::as_str).join(", ")
                ),
            })?,
        };
        let opensearch = if backend == SearchBackend::OpenSearch {
            let service = env
                .optional("CCAAS_OPENSEARCH_SERVICE")
                .unwrap_or_else(|| "aoss".into());
            if !matches!(service.as_str(), "aoss" | "es" | "none") {
                return Err(ConfigError::Invalid {
                    name: "CCAAS_OPENSEARCH_SERVICE",
                    why: "must be aoss (Serverless), es (a domain) or none (unsigned)".into(),
                });
            }
            Some(OpenSearchAt {
                endpoint: env.required("CCAAS_OPENSEARCH_ENDPOINT")?.trim().to_owned(),
                index: env
                    .optional("CCAAS_OPENSEARCH_INDEX")
                    .unwrap_or_else(|| "ccaas-tasks".into()),
                service,
            })
        } else {
            None
        };
        Ok(SearchSettings {
            backend,
            index_dir: env
                .optional("CCAAS_INDEX_DIR")
                .map(Into::into)
                .unwrap_or_else(|| std::env::temp_dir().join("ccaas-search")),
            opensearch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stack's required variables, each set to `x`.
    fn stack_vars(k: &str) -> Option<String> {
        matches!(
            k,
            "CCAAS_TASKS_TABLE"
                | "CCAAS_USAGE_TABLE"
                | "CCAAS_QUEUE_URL"
                | "CCAAS_HIGH_QUEUE_URL"
                | "CCAAS_BUCKET"
                | "CCAAS_KMS_KEY"
        )
        .then(|| "x".to_string())
    }

    #[test]
    fn each_missing_stack_variable_is_named() {
        for missing in [
            "CCAAS_TASKS_TABLE",
            "CCAAS_USAGE_TABLE",
            "CCAAS_QUEUE_URL",
            "CCAAS_HIGH_QUEUE_URL",
            "CCAAS_BUCKET",
            "CCAAS_KMS_KEY",
        ] {
            let env = Env::new(|k: &str| if k == missing { None } else { stack_vars(k) });
            let e = Stack::read(&env).unwrap_err();
            assert!(e.to_string().contains(missing), "{e}");
        }
        let env = Env::new(stack_vars);
        let s = Stack::read(&env).unwrap();
        assert_eq!(s.aws_timeout, Duration::from_secs(10));
        assert_eq!(s.mail_from, None, "email is off by default");
    }

    #[test]
    fn the_mail_sender_is_a_plain_address_and_a_bad_one_is_named() {
        let with = |v: &'static str| {
            Stack::read(&Env::new(move |k: &str| {
                if k == "CCAAS_MAIL_FROM" {
                    Some(v.to_string())
                } else {
                    stack_vars(k)
                }
            }))
        };
        assert_eq!(
            with(" ccaas@example.com ").unwrap().mail_from.as_deref(),
            Some("ccaas@example.com")
        );
        assert_eq!(with("  ").unwrap().mail_from, None, "blank is off");
        for bad in [
            "ccaas",
            "CCaaS <ccaas@example.com>",
            "a@b.com\nBcc: c@d.com",
        ] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains("CCAAS_MAIL_FROM"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_malformed_number_or_switch_is_named_and_blank_means_the_default() {
        let env = Env::new(|k: &str| match k {
            "N" => Some("soon".into()),
            "S" => Some("yes".into()),
            "BLANK" => Some("  ".into()),
            "GOOD" => Some(" 7 ".into()),
            "ON" => Some("on".into()),
            _ => None,
        });
        assert!(env.number("N", 1).unwrap_err().to_string().contains("N"));
        assert!(env.switch("S", true).unwrap_err().to_string().contains("S"));
        assert_eq!(env.number("BLANK", 3).unwrap(), 3);
        assert_eq!(env.number("GOOD", 3).unwrap(), 7);
        assert!(!env.switch("BLANK", false).unwrap());
        assert!(env.switch("ON", false).unwrap());
        assert!(matches!(
            env.required("BLANK"),
            Err(ConfigError::Missing("BLANK"))
        ));
    }

    #[test]
    fn search_takes_the_caller_s_default_a_known_backend_and_opensearch_needs_an_endpoint() {
        let read = |vars: &'static [(&'static str, &'static str)], default| {
            SearchSettings::read(
                &Env::new(move |k: &str| {
                    vars.iter()
                        .find(|(n, _)| *n == k)
                        .map(|(_, v)| (*v).to_string())
                }),
                default,
            )
        };
        let s = read(&[], SearchBackend::None).unwrap();
        assert_eq!((s.backend, s.opensearch), (SearchBackend::None, None));
        assert_eq!(s.index_dir, std::env::temp_dir().join("ccaas-search"));
        assert_eq!(
            read(&[], SearchBackend::Tantivy).unwrap().backend,
            SearchBackend::Tantivy
        );
        let e = read(&[("CCAAS_SEARCH", "elastic")], SearchBackend::None).unwrap_err();
        assert!(e.to_string().contains("CCAAS_SEARCH"), "{e}");
        let e = read(&[("CCAAS_SEARCH", "opensearch")], SearchBackend::None).unwrap_err();
        assert!(e.to_string().contains("CCAAS_OPENSEARCH_ENDPOINT"), "{e}");
        let s = read(
            &[
                ("CCAAS_SEARCH", "opensearch"),
                (
                    "CCAAS_OPENSEARCH_ENDPOINT",
                    "https://abc.us-east-1.aoss.amazonaws.com",
                ),
            ],
            SearchBackend::None,
        )
        .unwrap();
        assert_eq!(
            s.opensearch,
            Some(OpenSearchAt {
                endpoint: "https://abc.us-east-1.aoss.amazonaws.com".into(),
                index: "ccaas-tasks".into(),
                service: "aoss".into(),
            })
        );
        let e = read(
            &[
                ("CCAAS_SEARCH", "opensearch"),
                ("CCAAS_OPENSEARCH_ENDPOINT", "https://x"),
                ("CCAAS_OPENSEARCH_SERVICE", "s3"),
            ],
            SearchBackend::None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("CCAAS_OPENSEARCH_SERVICE"), "{e}");
    }
}
