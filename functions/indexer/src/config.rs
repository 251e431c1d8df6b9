//! The indexer function's typed configuration, read once from the environment.

use std::path::PathBuf;

use ccaas_aws::{ConfigError, Env, Stack};

/// What the indexer function reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The stack's tables, bucket and AWS call limit (the tasks table and the bucket's `logs/`
    /// and `index/search/` are what it uses).
    pub stack: Stack,
    /// `CCAAS_INDEX_DIR` (default `ccaas-search` under the temp dir, `/tmp` on Lambda): the
    /// writer's copy of the index, kept by a warm container between batches.
    pub index_dir: PathBuf,
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
            index_dir: env
                .optional("CCAAS_INDEX_DIR")
                .filter(|d| !d.trim().is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("ccaas-search")),
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
                "CCAAS_INDEX_DIR" | "CCAAS_AWS_TIMEOUT_SECS" | "CCAAS_MAIL_FROM"
            ))
        .then(|| "x".to_string())
    }

    #[test]
    fn the_index_dir_defaults_to_the_temp_dir_and_can_be_set() {
        let c = Config::read(&Env::new(stack)).unwrap();
        assert_eq!(c.index_dir, std::env::temp_dir().join("ccaas-search"));
        let c = Config::read(&Env::new(|k: &str| match k {
            "CCAAS_INDEX_DIR" => Some("/var/ix".into()),
            _ => stack(k),
        }))
        .unwrap();
        assert_eq!(c.index_dir, PathBuf::from("/var/ix"));
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
