//! The web page: `GET /` and its assets at `/assets/<name>`, plain HTML, CSS and ES modules
//! compiled into the binary (files under `web/`, no build step), so a peer serves its page
//! offline with nothing beside it. The page talks to the JSON API and its event stream only; it
//! signs votes in the browser with a key the peer never sees (`web/sign.js`, WebCrypto Ed25519
//! or the vendored noble implementation in `web/vendor/`). Every answer carries a strict
//! Content-Security-Policy (own origin only, no inline script or style) and an `ETag`, so a
//! browser revalidates instead of downloading again.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The policy on every page answer: scripts, styles, images and connections from this origin
/// only; no plugins, no framing, no `<base>` tricks, forms post here only.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// One embedded file: its name under `/assets/`, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

/// The page itself, served at `/`.
const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    bytes: include_bytes!("web/index.html"),
};

/// Everything the page loads, by the name it has under `/assets/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("web/style.css"),
    },
    Asset {
        name: "app.js",
        content_type: JS,
        bytes: include_bytes!("web/app.js"),
    },
    Asset {
        name: "views.js",
        content_type: JS,
        bytes: include_bytes!("web/views.js"),
    },
    Asset {
        name: "sign.js",
        content_type: JS,
        bytes: include_bytes!("web/sign.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("web/icon.svg"),
    },
    Asset {
        name: "vendor/noble-ed25519.js",
        content_type: JS,
        bytes: include_bytes!("web/vendor/noble-ed25519.js"),
    },
    Asset {
        name: "vendor/noble-hashes/sha2.js",
        content_type: JS,
        bytes: include_bytes!("web/vendor/noble-hashes/sha2.js"),
    },
    Asset {
        name: "vendor/noble-hashes/_md.js",
        content_type: JS,
        bytes: include_bytes!("web/vendor/noble-hashes/_md.js"),
    },
    Asset {
        name: "vendor/noble-hashes/_u64.js",
        content_type: JS,
        bytes: include_bytes!("web/vendor/noble-hashes/_u64.js"),
    },
    Asset {
        name: "vendor/noble-hashes/utils.js",
        content_type: JS,
        bytes: include_bytes!("web/vendor/noble-hashes/utils.js"),
    },
];

/// The bytes of the page and every asset: its weight, uncompressed.
pub fn page_weight() -> usize {
    INDEX.bytes.len() + ASSETS.iter().map(|a| a.bytes.len()).sum::<usize>()
}

/// The asset names, as served under `/assets/`.
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.name)
}

/// `GET /`.
pub async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

/// `GET /assets/{*name}`.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => serve(a, &headers),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "There is no such file.",
        )
            .into_response(),
    }
}

/// The file with its headers, or 304 when the browser holds this version already.
fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let digest = Sha256::digest(asset.bytes);
    let etag = format!("\"{}\"", hex::encode(&digest[..12]));
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.bytes.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // The files change only with the binary: revalidate each time, cheap with the ETag.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_stays_within_its_weight_and_every_import_is_served() {
        let weight = page_weight();
        assert!(weight <= 150_000, "the page weighs {weight} bytes");
        // Every module path a served file imports is itself served (the vendored modules import
        // their siblings relatively; the page's own modules import `./x.js` from /assets/).
        for a in ASSETS.iter().filter(|a| a.content_type == JS) {
            let text = std::str::from_utf8(a.bytes).expect("UTF-8");
            let dir = a.name.rsplit_once('/').map_or("", |(d, _)| d);
            for line in text.lines() {
                let Some(rest) = line.split(" from \"./").nth(1).or_else(|| {
                    line.split(" from './")
                        .nth(1)
                        .or_else(|| line.split("import('./").nth(1))
                }) else {
                    continue;
                };
                let target = rest.split(['"', '\'']).next().unwrap_or_default();
                let full = if dir.is_empty() {
                    target.to_owned()
                } else {
                    format!("{dir}/{target}")
                };
                assert!(
                    ASSETS.iter().any(|b| b.name == full),
                    "{} imports {full}, which is not served",
                    a.name
                );
            }
        }
    }

    #[tokio::test]
    async fn the_router_serves_the_page_and_its_assets_with_their_headers() {
        use axum::body::Body;
        use axum::http::Request;
        use tower::ServiceExt as _;
        let (_shell, bridge) = super::super::bridge();
        let app = super::super::server::router(bridge, tokio_util::sync::CancellationToken::new());
        let get = |path: &str, etag: Option<&str>| {
            let mut request = Request::builder().uri(path);
            if let Some(etag) = etag {
                request = request.header(header::IF_NONE_MATCH, etag);
            }
            app.clone().oneshot(request.body(Body::empty()).unwrap())
        };
        let page = get("/", None).await.unwrap();
        assert_eq!(page.status(), 200);
        let h = page.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        let etag = h[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(get("/", Some(&etag)).await.unwrap().status(), 304);
        for name in asset_names() {
            let answer = get(&format!("/assets/{name}"), None).await.unwrap();
            assert_eq!(answer.status(), 200, "{name}");
            let kind = answer.headers()[header::CONTENT_TYPE].to_str().unwrap();
            let expected = match name.rsplit_once('.').map(|(_, e)| e) {
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                Some("svg") => "image/svg+xml",
                _ => "?",
            };
            assert!(kind.starts_with(expected), "{name}: {kind}");
        }
        for missing in ["/assets/nope.js", "/assets/../web.rs", "/assets/"] {
            let status = get(missing, None).await.unwrap().status();
            assert_eq!(status, 404, "{missing}");
        }
    }

    #[test]
    fn the_page_has_no_inline_script_and_loads_only_its_own_assets() {
        let html = std::str::from_utf8(INDEX.bytes).expect("UTF-8");
        assert!(!html.contains("<script>") && !html.contains(" style=\""));
        assert!(!html.contains("http://") && !html.contains("https://"));
        for name in ["style.css", "app.js", "icon.svg"] {
            assert!(html.contains(&format!("/assets/{name}")), "{name}");
        }
    }
}
