//! Page weight: every byte a browser fetches for the peer's page, uncompressed. `GET /`, then
//! every same-origin asset the HTML names (`src=` and `href=`), every module an ES module
//! imports (`import … from "…"`, `import "…"`, `import("…")`) and every `url(…)` and `@import`
//! of a style sheet, recursively, each fetched once.

use super::client;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// What was fetched: each path's size in bytes.
#[derive(Debug, Default)]
pub struct Weight {
    /// Path → body bytes.
    pub assets: BTreeMap<String, usize>,
    /// Paths that did not answer 200, with their status.
    pub missing: Vec<(String, u16)>,
}

impl Weight {
    /// All bytes together.
    pub fn total(&self) -> usize {
        self.assets.values().sum()
    }
}

/// Weighs the page at `/`; `None` when there is no page (`/` does not answer 200).
pub async fn weigh(addr: SocketAddr) -> anyhow::Result<Option<Weight>> {
    let mut weight = Weight::default();
    let mut queue = vec!["/".to_owned()];
    let mut seen: BTreeSet<String> = queue.iter().cloned().collect();
    while let Some(path) = queue.pop() {
        let response = client::get(addr, &path).await?;
        if response.status != 200 {
            if path == "/" {
                return Ok(None);
            }
            weight.missing.push((path, response.status));
            continue;
        }
        weight.assets.insert(path.clone(), response.body.len());
        let text = String::from_utf8_lossy(&response.body);
        let kind = response.content_type.to_ascii_lowercase();
        let found = if kind.contains("html") {
            html_refs(&text)
        } else if kind.contains("javascript") || path.ends_with(".js") || path.ends_with(".mjs") {
            module_refs(&text)
        } else if kind.contains("css") || path.ends_with(".css") {
            css_refs(&text)
        } else {
            Vec::new()
        };
        for reference in found {
            if let Some(resolved) = resolve(&path, &reference) {
                if seen.insert(resolved.clone()) {
                    queue.push(resolved);
                }
            }
        }
    }
    Ok(Some(weight))
}

/// The values of `src=` and `href=` attributes (quoted or not), except links (`<a href>`),
/// which a browser does not fetch with the page.
fn html_refs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=", "href="] {
        let mut from = 0;
        while let Some(at) = html[from..].find(attr) {
            let start = from + at;
            from = start + attr.len();
            let tag = html[..start]
                .rfind('<')
                .map_or("", |lt| &html[lt + 1..start]);
            let name = tag.split_whitespace().next().unwrap_or("");
            if !name.eq_ignore_ascii_case("a") {
                out.push(quoted_or_bare(&html[from..]));
            }
        }
    }
    out
}

/// The specifiers of static and dynamic imports and of re-exports. Bare specifiers (`"pkg"`,
/// as in a usage example inside a comment) are left out: a browser without an import map
/// fetches only `/`, `./` and `../` paths (and full URLs, another origin's here).
fn module_refs(js: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in js.lines() {
        let line = line.trim();
        let is_static = (line.starts_with("import") || line.starts_with("export"))
            && (line.contains(" from ")
                || line.starts_with("import \"")
                || line.starts_with("import '"));
        if is_static {
            if let Some(from) = line.rfind(" from ") {
                out.push(quoted_or_bare(line[from + 6..].trim_start()));
            } else {
                out.push(quoted_or_bare(line["import".len()..].trim_start()));
            }
        }
        let mut rest = line;
        while let Some(at) = rest.find("import(") {
            rest = &rest[at + "import(".len()..];
            out.push(quoted_or_bare(rest.trim_start()));
        }
    }
    out.retain(|s| s.starts_with('/') || s.starts_with("./") || s.starts_with("../"));
    out
}

/// The targets of `url(…)` and `@import`.
fn css_refs(css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for marker in ["url(", "@import "] {
        let mut rest = css;
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            out.push(quoted_or_bare(rest.trim_start()));
        }
    }
    out
}

/// A quoted string at the start of `text`, or the text up to a space, `>`, `)` or `;`.
fn quoted_or_bare(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(q @ ('"' | '\'' | '`')) => chars.take_while(|&c| c != q).collect(),
        _ => text
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '>' | ')' | ';'))
            .collect(),
    }
}

/// `reference` as a path on this server, seen from the page at `base`; `None` for another
/// origin, a fragment, a data URL or anything that is not a file.
fn resolve(base: &str, reference: &str) -> Option<String> {
    let reference = reference.split(['#', '?']).next()?.trim();
    if reference.is_empty() || reference.starts_with("//") || reference.contains(':') {
        return None;
    }
    let joined = if reference.starts_with('/') {
        reference.to_owned()
    } else {
        let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{reference}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_resolved_on_this_origin_only() {
        let html = r##"<link rel="stylesheet" href="/style.css"><script type="module" src=app.js></script>
            <a href="https://example.org/x">x</a><a href="#top">top</a><img src="data:image/png;base64,AA">"##;
        let found: Vec<_> = html_refs(html)
            .iter()
            .filter_map(|r| resolve("/", r))
            .collect();
        assert_eq!(found, ["/app.js", "/style.css"]);
        let js = "import { a } from \"./lib/a.js\";\nimport './b.js';\nexport * from '../c.js';\nconst d = await import(\"./d.js\");\nimport * as ed from '@noble/ed25519';";
        let found: Vec<_> = module_refs(js)
            .iter()
            .filter_map(|r| resolve("/assets/main.js", r))
            .collect();
        assert_eq!(
            found,
            ["/assets/lib/a.js", "/assets/b.js", "/c.js", "/assets/d.js"]
        );
        let css = "@import \"base.css\"; body { background: url(img/bg.svg) }";
        let found: Vec<_> = css_refs(css)
            .iter()
            .filter_map(|r| resolve("/css/site.css", r))
            .collect();
        assert_eq!(found, ["/css/img/bg.svg", "/css/base.css"]);
    }
}
