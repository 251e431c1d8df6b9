//! The operations console's static files (the repository's `console/`, built into the
//! binary so `ccaas-local` serves them from anywhere) under `/site/console/`, and the
//! `config.json` that tells the page where the API is and how to sign in.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The console's files: (name, content type, bytes). The same files go to the S3 site's
/// `console/` on AWS (scripts/console-publish).
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../../console/index.html"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../console/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../../console/console.css"),
    ),
];

/// The console's `config.json` here: the API is on the same origin, and with the local JWT
/// check on the page asks for a bearer token (there is no hosted sign-in locally).
pub fn config_json(auth_on: bool) -> String {
    let auth = if auth_on { "token" } else { "off" };
    serde_json::json!({ "api": "", "auth": auth }).to_string()
}

/// The console's routes, to be merged beside the site's.
pub fn routes<S: Clone + Send + Sync + 'static>(auth_on: bool) -> Router<S> {
    let config = config_json(auth_on);
    Router::new()
        .route(
            "/site/console",
            get(|| async { Redirect::permanent("/site/console/") }),
        )
        .route("/site/console/", get(|| async { file("index.html") }))
        .route(
            "/site/console/config.json",
            get(move || {
                let config = config.clone();
                async move { respond("application/json", config) }
            }),
        )
        .route(
            "/site/console/{name}",
            get(|Path(name): Path<String>| async move { file(&name) }),
        )
}

fn file(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => respond(content_type, (*body).to_owned()),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn respond(content_type: &str, body: String) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            // Always revalidated: a new build's console shows at once.
            (header::CACHE_CONTROL, "no-cache".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::REFERRER_POLICY, "no-referrer".to_owned()),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_names_the_auth_mode_and_a_same_origin_api() {
        let off: serde_json::Value = serde_json::from_str(&config_json(false)).unwrap();
        assert_eq!(off, serde_json::json!({"api": "", "auth": "off"}));
        let on: serde_json::Value = serde_json::from_str(&config_json(true)).unwrap();
        assert_eq!(on["auth"], "token");
    }

    #[test]
    fn every_console_file_is_served_and_others_are_not_found() {
        for (name, ..) in FILES {
            assert_eq!(file(name).status(), StatusCode::OK, "{name}");
        }
        assert_eq!(file("../Cargo.toml").status(), StatusCode::NOT_FOUND);
        assert_eq!(file("secret.json").status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_page_loads_only_its_own_files() {
        let (_, _, html) = FILES[0];
        // No CDN and no inline script: the CSP allows scripts and styles from 'self' only.
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );
        assert!(html.contains("script-src 'self'"));
        assert!(!html.contains("<script>"), "no inline script");
    }
}
