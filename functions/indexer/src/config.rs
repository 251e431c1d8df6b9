//! The indexer function's typed configuration, read once from the environment.

use ccaas_aws::{ConfigError, Env, SearchBackend, SearchSettings, Stack};

/// What the indexer function reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The stack's tables, bucket and AWS call limit (the tasks table and the bucket's `logs/`
    /// and `index/search/` are what it uses).
    pub stack: Stack,
    /// `CCAAS_SEARCH` (default `tantivy`; the template deploys the indexer only with a
    /// backend) and its settings: `tantivy` writes the bucket's index through a copy in
    /// `CCAAS_INDEX_DIR` (default `ccaas-search` under the temp dir, `/tmp` on Lambda) that a
    /// warm container keeps between batches; `opensearch` writes the `CCAAS_OPENSEARCH_*` index.
    pub search: SearchSettings,
}

impl Config {
    /// Reads the configuration from the process environment. Errors: the first missing or
    /// malformed variable, named.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    /// Reads the configuration through `env` (testable without touching the environment).
    pub fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Config {
            stack: Stack::read(env)?,
            search: SearchSettings::read(env, SearchBackend::Tantivy)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(k: &str) -> Option<String> {
        (k.starts_with("CCAAS_")
            && !matches!(
                k,
                "CCAAS_INDEX_DIR"
                    | "CCAAS_AWS_TIMEOUT_SECS"
                    | "CCAAS_MAIL_FROM"
                    | "CCAAS_SEARCH"
                    | "CCAAS_OPENSEARCH_INDEX"
                    | "CCAAS_OPENSEARCH_SERVICE"
            ))
        .then(|| "x".to_string())
    }

    #[test]
    fn the_index_dir_defaults_to_the_temp_dir_and_can_be_set() {
        let c = Config::read(&Env::new(stack)).unwrap();
        assert_eq!(c.search.backend, SearchBackend::Tantivy);
        assert_eq!(
            c.search.index_dir,
            std::env::temp_dir().join("ccaas-search")
        );
        let c = Config::read(&Env::new(|k: &str| match k {
            "CCAAS_INDEX_DIR" => Some("/var/ix".into()),
            _ => stack(k),
        }))
        .unwrap();
        assert_eq!(c.search.index_dir, std::path::PathBuf::from("/var/ix"));
    }

    #[test]
    fn a_missing_stack_variable_is_named() {
        let e = Config::read(&Env::new(|k: &str| match k {
            "CCAAS_TASKS_TABLE" => None,
            _ => stack(k),
        }))
        .unwrap_err();
        assert!(e.to_string().contains("CCAAS_TASKS_TABLE"), "{e}");
    }
}
