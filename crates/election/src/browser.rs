//! `election --open`: shows a web page in the default browser where there is one. The command is
//! chosen as the `webbrowser` convention has it — each entry of `$BROWSER` (colon-separated,
//! `%s` standing for the URL, else the URL appended) in turn, then the system's opener
//! (`xdg-open`, `open` on macOS, `start` on Windows) — and nothing is tried in a CI run
//! (`CI` set) or, for `xdg-open`, without a display. Every outcome is one sentence for the
//! terminal; none is a failure of the election.

use std::process::Stdio;

/// The commands to try in turn, each a program and its arguments, or why there is none.
pub fn commands(
    url: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Vec<String>>, String> {
    if let Some(ci) = env("CI").filter(|v| !v.is_empty() && v != "false" && v != "0") {
        return Err(format!("this is a CI run (CI={ci})"));
    }
    let mut out: Vec<Vec<String>> = env("BROWSER")
        .unwrap_or_default()
        .split(':')
        .filter_map(|entry| {
            let mut words: Vec<String> = entry.split_whitespace().map(str::to_owned).collect();
            if words.is_empty() {
                return None;
            }
            if words.iter().any(|w| w.contains("%s")) {
                for w in &mut words {
                    *w = w.replace("%s", url);
                }
            } else {
                words.push(url.to_owned());
            }
            Some(words)
        })
        .collect();
    if !out.is_empty() {
        return Ok(out);
    }
    if cfg!(target_os = "macos") {
        out.push(vec!["open".into(), url.into()]);
    } else if cfg!(windows) {
        out.push(vec![
            "cmd".into(),
            "/C".into(),
            "start".into(),
            String::new(),
            url.into(),
        ]);
    } else if env("DISPLAY")
        .or_else(|| env("WAYLAND_DISPLAY"))
        .is_some_and(|d| !d.is_empty())
    {
        out.push(vec!["xdg-open".into(), url.into()]);
    } else {
        return Err("there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)".into());
    }
    Ok(out)
}

/// Opens `url` and says how it went, in a sentence. Waits for the command that opens it, which
/// for `xdg-open` and its kind returns at once, and for a browser named in `$BROWSER` may take
/// as long as that browser runs.
pub async fn open(url: &str) -> String {
    match commands(url, |k| std::env::var(k).ok()) {
        Ok(tried) => run_first(url, &tried).await,
        Err(why) => cannot(url, &why),
    }
}

/// Runs `tried` in turn until one succeeds; the sentence saying which did, or why none did.
async fn run_first(url: &str, tried: &[Vec<String>]) -> String {
    let mut failures = Vec::new();
    for command in tried {
        let Some((program, args)) = command.split_first() else {
            continue;
        };
        // The browser's own chatter would land in the election's console.
        let child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        match child {
            Ok(status) if status.success() => {
                return format!("Opened {url} in the browser ({program}).")
            }
            Ok(status) => failures.push(format!("{program} ended with {status}")),
            Err(e) => failures.push(format!("{program} could not be run ({e})")),
        }
    }
    cannot(url, &failures.join("; "))
}

fn cannot(url: &str, why: &str) -> String {
    format!("Cannot open a browser here: {why}. The web page is at {url}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    }

    const URL: &str = "http://127.0.0.1:7001/";

    #[test]
    fn ci_runs_never_open_a_browser() {
        let why = commands(URL, env(&[("CI", "true"), ("BROWSER", "firefox")])).unwrap_err();
        assert_eq!(why, "this is a CI run (CI=true)");
        assert!(commands(URL, env(&[("CI", "false"), ("BROWSER", "x")])).is_ok());
    }

    #[test]
    fn browser_entries_come_first_with_the_url_in_place_of_percent_s() {
        let tried = commands(URL, env(&[("BROWSER", "w3m -o x=%s:/bin/false:")])).unwrap();
        assert_eq!(
            tried,
            [
                vec!["w3m".to_owned(), "-o".into(), format!("x={URL}")],
                vec!["/bin/false".into(), URL.into()],
            ]
        );
    }

    #[cfg(all(unix, not(target_os = "macos")))]
    #[test]
    fn xdg_open_needs_a_display() {
        let why = commands(URL, env(&[])).unwrap_err();
        assert!(why.contains("no display"), "{why}");
        let tried = commands(URL, env(&[("WAYLAND_DISPLAY", "wayland-0")])).unwrap();
        assert_eq!(tried, [vec!["xdg-open".to_owned(), URL.into()]]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_first_command_that_works_opens_the_page_and_failures_are_a_sentence() {
        let command = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let said = run_first(URL, &[command(&["/bin/false", URL])]).await;
        assert!(
            said.starts_with("Cannot open a browser here: /bin/false ended with "),
            "{said}"
        );
        assert!(
            said.ends_with(&format!("The web page is at {URL}.")),
            "{said}"
        );
        let tried = [
            command(&["/nonexistent/browser", URL]),
            command(&["/bin/true", URL]),
        ];
        let said = run_first(URL, &tried).await;
        assert_eq!(said, format!("Opened {URL} in the browser (/bin/true)."));
    }
}
