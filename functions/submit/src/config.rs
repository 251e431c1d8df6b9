//! The submit function's typed configuration, read once from the environment.

use ccaas_aws::{ConfigError, Env, Stack};
use ccaas_domain::DeviceAllow;

/// What the submit function (and `ccaas-local`'s API) reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The stack's tables, queues, bucket, key and AWS call limit.
    pub stack: Stack,
    /// `CCAAS_API_URL` (optional): base of self links; relative links when unset.
    pub api_url: String,
    /// `CCAAS_AUTH` (default `off`): `jwt` makes every `/v1` call carry a verified bearer
    /// token whose user claim becomes the task's `user`. On AWS the API's JWT authorizer
    /// verifies the token; `ccaas-local` verifies it itself.
    pub auth: bool,
    /// `CCAAS_AUTH_USER_CLAIM` (default `sub`): the token claim that names the user.
    pub auth_user_claim: String,
    /// `CCAAS_ADMIN_USERS` (default none): comma-separated user names (as the user claim
    /// gives them) who may cancel other users' tasks and end or discard their sessions. Only
    /// verified callers can be admins, so it matters with auth on.
    pub admins: ccaas_app::Admins,
    /// `CCAAS_DEVICES_TABLE`: the DynamoDB `devices` table, read by `GET /v1/devices`.
    pub devices_table: String,
    /// `CCAAS_DEVICE_ALLOW` (default: every device): the devices a task may name; others are
    /// refused with 403 `device_not_allowed`.
    pub device_allow: DeviceAllow,
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
            api_url: env.raw("CCAAS_API_URL").unwrap_or_default(),
            auth: match env.optional("CCAAS_AUTH").as_deref() {
                None | Some("off") => false,
                Some("jwt") => true,
                Some(v) => {
                    return Err(ConfigError::Invalid {
                        name: "CCAAS_AUTH",
                        why: format!("{v:?} is not off or jwt"),
                    });
                }
            },
            auth_user_claim: env
                .optional("CCAAS_AUTH_USER_CLAIM")
                .unwrap_or_else(|| "sub".into()),
            admins: ccaas_app::Admins::parse(
                &env.optional("CCAAS_ADMIN_USERS").unwrap_or_default(),
            )
            .map_err(|e| ConfigError::Invalid {
                name: "CCAAS_ADMIN_USERS",
                why: format!("every item {}", e.message),
            })?,
            devices_table: env.required("CCAAS_DEVICES_TABLE")?,
            device_allow: DeviceAllow::parse(&env.raw("CCAAS_DEVICE_ALLOW").unwrap_or_default())
                .map_err(|why| ConfigError::Invalid {
                    name: "CCAAS_DEVICE_ALLOW",
                    why,
                })?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stack variable set (to `x`); the optional lists unset.
    fn stack(k: &str) -> Option<String> {
        let optional = matches!(
            k,
            "CCAAS_DEVICE_ALLOW" | "CCAAS_ADMIN_USERS" | "CCAAS_MAIL_FROM"
        );
        (k.starts_with("CCAAS_") && !optional).then(|| "x".to_string())
    }

    #[test]
    fn the_allow_list_is_read_and_a_bad_one_is_named() {
        let read = |v: &'static str| {
            Config::read(&Env::new(move |k: &str| match k {
                "CCAAS_AWS_TIMEOUT_SECS" | "CCAAS_AUTH" | "CCAAS_AUTH_USER_CLAIM" => None,
                "CCAAS_DEVICE_ALLOW" => Some(v.to_string()),
                _ => stack(k),
            }))
        };
        assert!(!read("").unwrap().device_allow.is_restricted());
        let c = read("127.0.0.0/8:2200-2299").unwrap();
        assert!(c.device_allow.is_restricted());
        let e = read("127.0.0.0/8:22-").unwrap_err();
        assert!(e.to_string().contains("CCAAS_DEVICE_ALLOW"), "{e}");
    }

    #[test]
    fn auth_is_off_by_default_and_jwt_reads_the_user_claim() {
        let off = Config::read(&Env::new(|k: &str| match k {
            "CCAAS_AUTH" | "CCAAS_AUTH_USER_CLAIM" | "CCAAS_AWS_TIMEOUT_SECS" => None,
            _ => stack(k),
        }))
        .unwrap();
        assert!(!off.auth);
        assert_eq!(off.auth_user_claim, "sub");
        let on = Config::read(&Env::new(|k: &str| match k {
            "CCAAS_AUTH" => Some("jwt".into()),
            "CCAAS_AUTH_USER_CLAIM" => Some("email".into()),
            "CCAAS_AWS_TIMEOUT_SECS" => None,
            _ => stack(k),
        }))
        .unwrap();
        assert!(on.auth);
        assert_eq!(on.auth_user_claim, "email");
        let e = Config::read(&Env::new(|k: &str| match k {
            "CCAAS_AUTH" => Some("yes".into()),
            "CCAAS_AWS_TIMEOUT_SECS" => None,
            _ => stack(k),
        }))
        .unwrap_err();
        assert!(e.to_string().contains("CCAAS_AUTH"), "{e}");
    }

    #[test]
    fn admins_are_a_comma_list_of_user_names_and_a_bad_one_is_named() {
        let read = |v: Option<&str>| {
            Config::read(&Env::new(move |k: &str| match k {
                "CCAAS_ADMIN_USERS" => v.map(str::to_owned),
                "CCAAS_AUTH" | "CCAAS_AUTH_USER_CLAIM" | "CCAAS_AWS_TIMEOUT_SECS" => None,
                _ => stack(k),
            }))
        };
        let none = read(None).unwrap();
        assert!(!none.admins.contains("x"));
        let two = read(Some(" root@lab , ops,")).unwrap();
        assert!(two.admins.contains("root@lab") && two.admins.contains("ops"));
        assert!(!two.admins.contains("alice"));
        let e = read(Some("ops,bad name")).unwrap_err();
        assert!(e.to_string().contains("CCAAS_ADMIN_USERS"), "{e}");
    }

    #[test]
    fn a_missing_stack_variable_is_named() {
        let e = Config::read(&Env::new(|k: &str| match k {
            "CCAAS_KMS_KEY" => None,
            _ => stack(k),
        }))
        .unwrap_err();
        assert!(e.to_string().contains("CCAAS_KMS_KEY"), "{e}");
    }
}
