//! `ccaas-local`'s typed configuration: the submit function's and the processor's, plus what
//! only the one-process stack reads (where it listens, whether it runs the worker, and how it
//! verifies bearer tokens itself).

use ccaas_aws::{ConfigError, Env};

/// Everything `ccaas-local` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The API's settings, as the submit function reads them.
    pub submit: ccaas_submit::Config,
    /// The worker's settings, as the processor function reads them.
    pub processor: ccaas_processor::Config,
    /// `CCAAS_LISTEN` (default `127.0.0.1:3000`): where `ccaas-local` serves HTTP.
    pub listen: String,
    /// `CCAAS_LOCAL_WORKER` (default `on`): `off` runs `ccaas-local` as the API alone, with no
    /// queue poller (for API fuzzing, where generated devices must not be contacted).
    pub local_worker: bool,
    /// `CCAAS_SEARCH_DIR`: where the search index lives (kept across restarts). Unset: a
    /// directory of this process under the system's temp dir, removed at shutdown; every
    /// start indexes every task again either way.
    pub search_dir: Option<std::path::PathBuf>,
}

impl Config {
    /// Reads the configuration from the process environment. Errors: the first missing or
    /// malformed variable, named.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    /// Reads the configuration through `env`. Links are absolute out of the box: with
    /// `CCAAS_API_URL` unset, self links use this process's own address ([`own_base`]), and
    /// report links point at its own `/site/` unless `CCAAS_SITE_URL` is set (emulators serve
    /// no websites).
    pub fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let mut submit = ccaas_submit::Config::read(env)?;
        let mut processor = ccaas_processor::Config::read(env)?;
        let listen = env
            .optional("CCAAS_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        if submit.api_url.is_empty() {
            submit.api_url = own_base(&listen);
        }
        if processor.site_url.is_empty() {
            processor.site_url = format!("{}/site", submit.api_url.trim_end_matches('/'));
        }
        Ok(Config {
            submit,
            processor,
            listen,
            local_worker: env.switch("CCAAS_LOCAL_WORKER", true)?,
            search_dir: env
                .optional("CCAAS_SEARCH_DIR")
                .filter(|d| !d.is_empty())
                .map(Into::into),
        })
    }
}

/// The base URL of `ccaas-local` as it listens on `listen` (`host:port`): `http://` and the
/// address, with an unspecified address (`0.0.0.0`, `[::]`, which no browser can open)
/// replaced by the loopback address of its family. An address that is not an IP literal
/// (`localhost:3000`) is used as given.
pub fn own_base(listen: &str) -> String {
    match listen.trim().parse::<std::net::SocketAddr>() {
        Ok(mut addr) => {
            if addr.ip().is_unspecified() {
                addr.set_ip(match addr.ip() {
                    std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            format!("http://{addr}")
        }
        Err(_) => format!("http://{}", listen.trim()),
    }
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
        Self::read(&Env::process())
    }

    /// Reads them through `env`; every variable is required. Errors: the first missing or
    /// blank variable, named.
    pub fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let req = |name: &'static str| env.optional(name).ok_or(ConfigError::Missing(name));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_verifier_names_each_missing_setting() {
        let all = |k: &str| match k {
            "CCAAS_AUTH_JWKS_FILE" => Some("/tmp/jwks.json".to_string()),
            "CCAAS_AUTH_ISSUER" => Some("https://issuer.test".to_string()),
            "CCAAS_AUTH_AUDIENCE" => Some("ccaas, ccaas-cli".to_string()),
            _ => None,
        };
        let ok = LocalAuth::read(&Env::new(all)).unwrap();
        assert_eq!(ok.audience, ["ccaas", "ccaas-cli"]);
        for missing in [
            "CCAAS_AUTH_JWKS_FILE",
            "CCAAS_AUTH_ISSUER",
            "CCAAS_AUTH_AUDIENCE",
        ] {
            let e = LocalAuth::read(&Env::new(
                |k: &str| if k == missing { None } else { all(k) },
            ))
            .unwrap_err();
            assert!(e.to_string().contains(missing), "{e}");
        }
        let e = LocalAuth::read(&Env::new(|k: &str| {
            if k == "CCAAS_AUTH_AUDIENCE" {
                Some(" , ".into())
            } else {
                all(k)
            }
        }))
        .unwrap_err();
        assert!(e.to_string().contains("CCAAS_AUTH_AUDIENCE"), "{e}");
    }

    /// The variables every configuration needs, each set to `x`.
    fn required(k: &str) -> Option<String> {
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

    #[test]
    fn report_links_default_to_the_own_site_route_and_the_listen_address_to_loopback() {
        // The required variables only, and the API's base URL.
        let base = |k: &str| match k {
            "CCAAS_API_URL" => Some("http://127.0.0.1:3000/".to_string()),
            _ => required(k),
        };
        let c = Config::read(&Env::new(base)).unwrap();
        assert_eq!(c.processor.site_url, "http://127.0.0.1:3000/site");
        assert_eq!(c.listen, "127.0.0.1:3000");
        assert!(c.local_worker);
        let c = Config::read(&Env::new(|k: &str| match k {
            "CCAAS_SITE_URL" => Some("https://site.example".to_string()),
            _ => base(k),
        }))
        .unwrap();
        assert_eq!(c.processor.site_url, "https://site.example");
    }

    #[test]
    fn with_no_api_url_links_are_absolute_from_the_listen_address() {
        let base = |k: &str| match k {
            "CCAAS_LISTEN" => Some("127.0.0.1:3999".to_string()),
            _ => required(k),
        };
        let c = Config::read(&Env::new(base)).unwrap();
        assert_eq!(c.submit.api_url, "http://127.0.0.1:3999");
        assert_eq!(c.processor.site_url, "http://127.0.0.1:3999/site");
        let c = Config::read(&Env::new(|k: &str| match k {
            "CCAAS_API_URL" => Some("https://ccaas.lab.example".to_string()),
            _ => base(k),
        }))
        .unwrap();
        assert_eq!(
            c.submit.api_url, "https://ccaas.lab.example",
            "still overridable"
        );
        assert_eq!(c.processor.site_url, "https://ccaas.lab.example/site");
    }

    #[test]
    fn an_unspecified_listen_address_links_to_loopback() {
        assert_eq!(own_base("0.0.0.0:3000"), "http://127.0.0.1:3000");
        assert_eq!(own_base("[::]:3000"), "http://[::1]:3000");
        assert_eq!(own_base("[::1]:8080"), "http://[::1]:8080");
        assert_eq!(own_base("localhost:3000"), "http://localhost:3000");
    }
}
