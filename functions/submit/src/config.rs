//! The submit function's typed configuration, read once from the environment.

pub use ccaas_aws::SearchBackend;
use ccaas_aws::{ConfigError, Env, SearchSettings, Stack};
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
    /// `CCAAS_ADMIN_GROUP` (default none): a group whose members are admins too, as the
    /// token's groups claim lists them (the template's Cognito group `AdminGroup`).
    pub admin_group: Option<String>,
    /// `CCAAS_AUTH_GROUPS_CLAIM` (default `cognito:groups`): the claim that lists the
    /// caller's groups.
    pub auth_groups_claim: String,
    /// `CCAAS_DEVICES_TABLE`: the DynamoDB `devices` table, read by `GET /v1/devices`.
    pub devices_table: String,
    /// `CCAAS_DEVICE_ALLOW` (default: every device): the devices a task may name; others are
    /// refused with 403 `device_not_allowed`.
    pub device_allow: DeviceAllow,
    /// `CCAAS_SEARCH` (default `none`) and its settings: where `GET /v1/search` reads (the
    /// template's `SearchBackend`). `ccaas-local` keeps its own index and ignores them.
    pub search: SearchSettings,
}

/// Whether `g` can be told apart inside a groups claim, in either form it arrives in (API
/// Gateway's `[a b]`, a JSON array's `["a","b"]`): 1 to 128 visible ASCII characters without
/// brackets, quotes, commas or spaces.
pub fn is_group_name(g: &str) -> bool {
    (1..=128).contains(&g.len())
        && g.bytes()
            .all(|b| b.is_ascii_graphic() && !b"[]\",'".contains(&b))
}

/// The groups a groups claim lists: API Gateway hands a JWT array claim to the function as
/// `[a b c]`, `ccaas-local` as its JSON text `["a","b","c"]`, and a one-group claim may be a
/// plain string.
pub fn groups_of(claim: &str) -> impl Iterator<Item = &str> {
    claim
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|g| g.trim_matches('"'))
        .filter(|g| !g.is_empty())
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
            admin_group: match env.optional("CCAAS_ADMIN_GROUP") {
                Some(g) if !is_group_name(&g) => {
                    return Err(ConfigError::Invalid {
                        name: "CCAAS_ADMIN_GROUP",
                        why: "a group name is 1 to 128 visible characters without brackets, quotes, commas or spaces".into(),
                    });
                }
                g => g,
            },
            auth_groups_claim: env
                .optional("CCAAS_AUTH_GROUPS_CLAIM")
                .unwrap_or_else(|| "cognito:groups".into()),
            devices_table: env.required("CCAAS_DEVICES_TABLE")?,
            device_allow: DeviceAllow::parse(&env.raw("CCAAS_DEVICE_ALLOW").unwrap_or_default())
                .map_err(|why| ConfigError::Invalid {
                    name: "CCAAS_DEVICE_ALLOW",
                    why,
                })?,
            search: SearchSettings::read(env, SearchBackend::None)?,
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
            "CCAAS_DEVICE_ALLOW"
                | "CCAAS_ADMIN_USERS"
                | "CCAAS_ADMIN_GROUP"
                | "CCAAS_AUTH_GROUPS_CLAIM"
                | "CCAAS_MAIL_FROM"
                | "CCAAS_SEARCH"
                | "CCAAS_INDEX_DIR"
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

    #[test]
    fn the_admin_group_is_optional_and_a_name_that_a_claim_cannot_hold_is_refused() {
        let read = |v: Option<&'static str>| {
            Config::read(&Env::new(move |k: &str| match k {
                "CCAAS_ADMIN_GROUP" => v.map(str::to_owned),
                "CCAAS_AUTH" | "CCAAS_AUTH_USER_CLAIM" | "CCAAS_AWS_TIMEOUT_SECS" => None,
                _ => stack(k),
            }))
        };
        let none = read(None).unwrap();
        assert_eq!(none.admin_group, None);
        assert_eq!(none.auth_groups_claim, "cognito:groups");
        assert_eq!(
            read(Some("ccaas-admins")).unwrap().admin_group.as_deref(),
            Some("ccaas-admins")
        );
        for bad in ["a b", "[x]", "a,b", "\"x\""] {
            let e = read(Some(bad)).unwrap_err();
            assert!(e.to_string().contains("CCAAS_ADMIN_GROUP"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_groups_claim_is_read_in_each_form_it_arrives_in() {
        fn g(c: &str) -> Vec<&str> {
            groups_of(c).collect()
        }
        assert_eq!(g("[ops ccaas-admins]"), ["ops", "ccaas-admins"]);
        assert_eq!(g(r#"["ops","ccaas-admins"]"#), ["ops", "ccaas-admins"]);
        assert_eq!(g("ccaas-admins"), ["ccaas-admins"]);
        assert!(g("[]").is_empty() && g("").is_empty());
    }

    #[test]
    fn search_is_off_by_default_and_only_a_known_backend_is_accepted() {
        let read = |v: Option<&'static str>| {
            Config::read(&Env::new(move |k: &str| match k {
                "CCAAS_SEARCH" => v.map(str::to_owned),
                "CCAAS_AUTH" | "CCAAS_AUTH_USER_CLAIM" | "CCAAS_AWS_TIMEOUT_SECS" => None,
                _ => stack(k),
            }))
        };
        assert_eq!(read(None).unwrap().search.backend, SearchBackend::None);
        assert_eq!(
            read(Some("none")).unwrap().search.backend,
            SearchBackend::None
        );
        let on = read(Some("tantivy")).unwrap();
        assert_eq!(on.search.backend, SearchBackend::Tantivy);
        assert_eq!(
            on.search.index_dir,
            std::env::temp_dir().join("ccaas-search")
        );
        let e = read(Some("elastic")).unwrap_err();
        assert!(e.to_string().contains("CCAAS_SEARCH"), "{e}");
    }
}
