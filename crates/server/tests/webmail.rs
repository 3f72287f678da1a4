//! The webmail end to end: the committed bundle is what `web/` builds
//! (with the pinned esbuild); Gmail's search operators as JMAP filters
//! (Node's test runner on `web/test/`); the page's security headers, the session
//! cookie and its CSRF rules over curl; and the whole webmail in a real
//! browser (Selenium driving Debian's headless Chromium, the script in
//! `webmail/browser.py`), against the real binary.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{PASSWORD, Server, Setup, assert_success};

const USER: &str = "bob@localhost";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `scripts/build-web` into a temporary folder gives, byte for byte, the
/// bundle committed in `crates/web/assets` (which the binary embeds), and
/// its JavaScript stays under 200 KB gzipped.
#[test]
fn committed_bundle_is_what_the_sources_build() {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(repo().join("scripts/build-web"))
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("bash runs scripts/build-web");
    assert_success(
        &o,
        "scripts/build-web (npm and the pinned esbuild: scripts/install-deps)",
    );
    for file in ["index.html", "app.js", "app.css"] {
        let built = std::fs::read(out.path().join(file)).unwrap();
        let committed = std::fs::read(repo().join("crates/web/assets").join(file)).unwrap();
        assert!(
            built == committed,
            "crates/web/assets/{file} is not what web/src builds: run scripts/build-web and commit"
        );
    }
    let gz = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(out.path().join("app.js"))
        .output()
        .expect("gzip runs");
    assert_success(&gz, "gzip");
    assert!(
        gz.stdout.len() < 200 * 1024,
        "app.js is {} bytes gzipped (limit 200 KB)",
        gz.stdout.len()
    );
}

/// Gmail's search operators map onto the Email/query filters they should
/// (known answers in `web/test/search.test.mjs`, run by Node's test runner).
#[test]
fn search_operators_map_to_jmap_filters() {
    let o = Command::new("node")
        .args(["--test", "test/search.test.mjs"])
        .current_dir(repo().join("web"))
        .output()
        .expect("node is needed: scripts/install-deps");
    assert_success(&o, "node --test web/test/search.test.mjs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("# fail 0") && !out.contains("# pass 0"),
        "{out}"
    );
}

fn curl(args: &[&str]) -> String {
    let o = Command::new("curl")
        .args(["-s", "-k", "--max-time", "15"])
        .args(args)
        .output()
        .expect("curl is needed: scripts/install-deps");
    assert_success(&o, &format!("curl {args:?}"));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap()
}

/// The page and its assets carry a strict CSP, nosniff, Referrer-Policy and
/// frame protection on HTTP and HTTPS; sign-in from the webmail sets an
/// `HttpOnly`, `SameSite=Strict` cookie (`Secure` on HTTPS) and never shows
/// the token; the cookie opens JMAP only with the webmail's header and from
/// its own origin; sign-out revokes it on the server.
#[test]
fn page_headers_cookie_and_csrf() {
    let t = Server::start(Setup {
        protocols: &["http", "https"],
        users: &[USER],
        ..Setup::default()
    });
    for base in [
        format!("http://127.0.0.1:{}", t.port("http")),
        format!("https://127.0.0.1:{}", t.port("https")),
    ] {
        for path in ["/", "/webmail/app.js", "/webmail/app.css"] {
            let r = curl(&["-i", &format!("{base}{path}")]);
            assert_eq!(status(&r), 200, "{path}: {r}");
            let csp = header(&r, "content-security-policy").unwrap();
            assert!(csp.contains("script-src 'self';"), "{csp}");
            assert!(
                !csp.contains("unsafe-eval") && !csp.contains("script-src 'self' 'unsafe-inline'")
            );
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert_eq!(header(&r, "x-content-type-options"), Some("nosniff"));
            assert_eq!(header(&r, "referrer-policy"), Some("no-referrer"));
            assert_eq!(header(&r, "x-frame-options"), Some("DENY"));
        }
        let page = curl(&[&format!("{base}/")]);
        assert!(page.contains("name=\"username\"") && page.contains("name=\"password\""));
        assert!(page.contains("type=\"submit\""));
    }

    let http = format!("http://127.0.0.1:{}", t.port("http"));
    let https = format!("https://127.0.0.1:{}", t.port("https"));
    let sign_in = |base: &str| {
        curl(&[
            "-i",
            "-H",
            "X-Tidings-Webmail: 1",
            "-H",
            &format!("Origin: {base}"),
            "--data-urlencode",
            &format!("username={USER}"),
            "--data-urlencode",
            &format!("password={PASSWORD}"),
            &format!("{base}/auth/session"),
        ])
    };
    let r = sign_in(&https);
    assert_eq!(status(&r), 201, "{r}");
    let cookie = header(&r, "set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(cookie.contains("Secure"), "{cookie}");
    let r = sign_in(&http);
    assert_eq!(status(&r), 201, "{r}");
    let cookie = header(&r, "set-cookie").unwrap().to_string();
    assert!(!cookie.contains("Secure"), "{cookie}");
    let body = r.split("\r\n\r\n").nth(1).unwrap();
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("tidings_session=")
        .unwrap()
        .to_string();
    assert!(!body.contains(&token), "the token is in the body: {body}");
    let jar = format!("Cookie: tidings_session={token}");
    let api = format!("{http}/jmap/");
    let echo = r#"{"using":["urn:ietf:params:jmap:core"],"methodCalls":[["Core/echo",{"hi":"there"},"0"]]}"#;
    let post = |extra: &[&str]| {
        let mut args = vec![
            "-i",
            "-H",
            &jar,
            "-H",
            "Content-Type: application/json",
            "--data",
            echo,
        ];
        args.extend_from_slice(extra);
        args.push(&api);
        curl(&args)
    };
    // Without the webmail's header: a cross-site form could do this.
    assert_eq!(status(&post(&[])), 403);
    // From another origin.
    let r = post(&[
        "-H",
        "X-Tidings-Webmail: 1",
        "-H",
        "Origin: http://evil.example",
    ]);
    assert_eq!(status(&r), 403, "{r}");
    let r = post(&[
        "-H",
        "X-Tidings-Webmail: 1",
        "-H",
        "Sec-Fetch-Site: cross-site",
    ]);
    assert_eq!(status(&r), 403, "{r}");
    // The webmail's own request.
    let r = post(&[
        "-H",
        "X-Tidings-Webmail: 1",
        "-H",
        &format!("Origin: {http}"),
    ]);
    assert_eq!(status(&r), 200, "{r}");
    assert!(r.contains("there"), "{r}");
    // A GET needs no header; the session resource names the user.
    let r = curl(&["-i", "-H", &jar, &format!("{http}/.well-known/jmap")]);
    assert_eq!(status(&r), 200, "{r}");
    assert!(r.contains(USER));
    // Sign-in from another origin (login CSRF) is refused.
    let r = curl(&[
        "-i",
        "-H",
        "X-Tidings-Webmail: 1",
        "-H",
        "Origin: http://evil.example",
        "--data-urlencode",
        &format!("username={USER}"),
        "--data-urlencode",
        &format!("password={PASSWORD}"),
        &format!("{http}/auth/session"),
    ]);
    assert_eq!(status(&r), 403, "{r}");
    // An app password is no session cookie.
    let app = t.ok(&["user", "token", "add", USER, "phone"]);
    let r = curl(&[
        "-i",
        "-H",
        &format!("Cookie: tidings_session={}", app.trim()),
        &format!("{http}/.well-known/jmap"),
    ]);
    assert_eq!(status(&r), 401, "{r}");
    // Sign-out with the cookie (and the header) revokes and clears it.
    let out = |extra: &[&str]| {
        let mut args = vec!["-i", "-X", "DELETE", "-H", &jar];
        args.extend_from_slice(extra);
        let url = format!("{http}/auth/session");
        args.push(&url);
        curl(&args)
    };
    assert_eq!(status(&out(&[])), 403);
    let r = out(&["-H", "X-Tidings-Webmail: 1"]);
    assert_eq!(status(&r), 204, "{r}");
    assert!(header(&r, "set-cookie").unwrap().contains("Max-Age=0"));
    let r = curl(&["-i", "-H", &jar, &format!("{http}/.well-known/jmap")]);
    assert_eq!(status(&r), 401, "{r}");
}

/// The webmail in Chromium: sign in, the list, a conversation, every
/// keyboard shortcut's effect seen over IMAP, labels, compose and send to
/// another account, search, push, hostile HTML, the phone layout and dark
/// mode, sign-out (see `webmail/browser.py`). Fails if Chromium,
/// chromedriver or Selenium is missing.
#[test]
fn webmail_in_a_real_browser() {
    for tool in ["chromium", "chromedriver"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        assert!(
            found.status.success(),
            "{tool} is missing: scripts/install-deps installs Debian's chromium and chromium-driver"
        );
    }
    let python = common::pyvenv_python("selenium");
    let t = Server::start(Setup {
        protocols: &["http", "imap", "smtp", "submission"],
        users: &[USER, "ann@localhost"],
        ..Setup::default()
    });
    // An address Bob may send as, for the identity the browser adds.
    t.ok(&["alias", "add", "team@localhost", USER]);
    // TIDINGS_SCREENSHOTS=DIR (inherited) saves screenshots there.
    let out = t.run_python(
        &python,
        include_str!("webmail/browser.py"),
        "webmail/browser.py (Selenium + Chromium)",
    );
    assert!(out.contains("webmail browser checks passed"), "{out}");
}
