//! App passwords and webmail sessions end to end: `tidings user token
//! add|list|del`, the token as HTTP Bearer, as the password of HTTP Basic,
//! IMAP, POP3 and SMTP AUTH, `POST`/`DELETE /auth/session`, and failed
//! tokens in the shared login limiter. Clients: curl, Python's urllib,
//! imaplib, poplib and smtplib.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{PASSWORD, Server, Setup, assert_success};

const USER: &str = "bob@localhost";
/// Failed logins (some are part of the tests) answer quickly.
const FAST_FAILURES: &str = "[limits]\nlogin_failure_delay = \"50ms\"\n";

fn python(server: &Server, script: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script])
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jmap-clients"),
        )
        .env(
            "JMAP_BASE",
            format!("http://127.0.0.1:{}", server.port("http")),
        )
        .env("JMAP_USER", USER)
        .env("JMAP_PASSWORD", PASSWORD);
    for p in ["imap", "pop3", "submission"] {
        if let Some(port) = server.try_port(p) {
            cmd.env(format!("PORT_{}", p.to_uppercase()), port.to_string());
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn curl(args: &[&str]) -> String {
    let o = Command::new("curl")
        .args(["-s", "--max-time", "15"])
        .args(args)
        .output()
        .expect("curl is needed: scripts/install-deps");
    assert_success(&o, "curl");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// An app password made with the CLI opens the account over HTTP (Bearer
/// and Basic), IMAP, POP3 and SMTP AUTH, is listed with its use, opens no
/// other account, and stops working everywhere once deleted.
#[test]
fn app_password_from_the_cli_works_everywhere_until_deleted() {
    let t = Server::start(Setup {
        protocols: &["http", "imap", "pop3", "submission"],
        users: &[USER, "eve@localhost"],
        extra: FAST_FAILURES,
        ..Setup::default()
    });
    let token = t.ok(&["user", "token", "add", USER, "phone"]);
    let token = token.trim();
    assert!(token.starts_with("tdg_") && token.len() == 68, "{token:?}");
    let jmap = format!("http://127.0.0.1:{}/.well-known/jmap", t.port("http"));
    // curl with the token as Bearer.
    let head = curl(&["-i", "-H", &format!("Authorization: Bearer {token}"), &jmap]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains(USER), "{head}");
    let script = r##"
import imaplib, json, os, poplib, smtplib
import jmap_http as j
tok = os.environ["TOKEN"]
bearer = {"Authorization": "Bearer " + tok}
# Bearer and Basic-with-token on the session resource and the API.
st, _, body = j.http("GET", "/.well-known/jmap", auth=None, headers=bearer)
assert st == 200 and json.loads(body)["username"] == j.USER, (st, body)
st, _, body = j.http("GET", "/.well-known/jmap", auth=(j.USER, tok))
assert st == 200, (st, body)
st, _, body = j.http("POST", "/jmap/", auth=None,
    headers=dict(bearer, **{"Content-Type": "application/json"}),
    body=json.dumps({"using": j.USING, "methodCalls": [["Core/echo", {"hello": "inbox"}, "0"]]}).encode())
assert st == 200 and b"inbox" in body, (st, body)
# The token of bob is no password of eve.
st, _, _ = j.http("GET", "/.well-known/jmap", auth=("eve@localhost", tok))
assert st == 401, st
# IMAP, POP3 and SMTP AUTH take it as the password.
im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
im.login(j.USER, tok)
im.logout()
pop = poplib.POP3("127.0.0.1", int(os.environ["PORT_POP3"]))
pop.user(j.USER)
pop.pass_(tok)
pop.quit()
sm = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_SUBMISSION"]))
sm.ehlo()
sm.login(j.USER, tok)
sm.quit()
"##;
    assert_success(
        &python(&t, script, &[("TOKEN", token)]),
        "token as password",
    );
    let list = t.ok(&["user", "token", "list", USER]);
    assert!(list.contains("phone") && list.contains("app"), "{list}");
    assert!(!list.contains("last used never"), "{list}");
    assert!(!list.contains(token), "{list}");
    t.ok(&["user", "token", "del", USER, "phone"]);
    assert!(t.ok(&["user", "token", "list", USER]).trim().is_empty());
    let head = curl(&["-i", "-H", &format!("Authorization: Bearer {token}"), &jmap]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let script = r##"
import imaplib, os
import jmap_http as j
tok = os.environ["TOKEN"]
st, _, _ = j.http("GET", "/.well-known/jmap", auth=(j.USER, tok))
assert st == 401, st
im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
try:
    im.login(j.USER, tok)
    raise SystemExit("a deleted app password logged in")
except imaplib.IMAP4.error:
    pass
"##;
    assert_success(&python(&t, script, &[("TOKEN", token)]), "deleted token");
    // Deleting a token that is not there is an error.
    let o = t
        .tidings()
        .args(["user", "token", "del", USER, "phone"])
        .output()
        .unwrap();
    assert!(!o.status.success());
}

/// The webmail's sign-in: a form or JSON trades the password for a web
/// token, which works as Bearer (not as a password), shows in the token
/// list, and is dead on the server after `DELETE /auth/session`.
#[test]
fn web_session_sign_in_and_sign_out() {
    let t = Server::start(Setup {
        protocols: &["http", "imap"],
        users: &[USER, "eve@localhost"],
        extra: FAST_FAILURES,
        ..Setup::default()
    });
    let url = format!("http://127.0.0.1:{}/auth/session", t.port("http"));
    // curl posts a form.
    let out = curl(&[
        "-i",
        "--data-urlencode",
        &format!("username={USER}"),
        "--data-urlencode",
        &format!("password={PASSWORD}"),
        &url,
    ]);
    assert!(out.starts_with("HTTP/1.1 201"), "{out}");
    let body = out.split("\r\n\r\n").nth(1).unwrap();
    let field = |name: &str| {
        let start = body.find(&format!("\"{name}\":")).unwrap() + name.len() + 3;
        let rest = body[start..].trim_start_matches('"');
        rest[..rest.find(['"', ',', '}']).unwrap()].to_string()
    };
    let token = field("token");
    assert_eq!(field("username"), USER);
    assert!(field("expires").ends_with('Z'), "{body}");
    assert_eq!(field("idleTimeout"), "86400");
    let list = t.ok(&["user", "token", "list", USER]);
    assert!(list.contains("web-") && list.contains(" web "), "{list}");
    let script = r##"
import imaplib, json, os
import jmap_http as j
tok = os.environ["TOKEN"]
bearer = {"Authorization": "Bearer " + tok}
st, _, body = j.http("POST", "/jmap/", auth=None,
    headers=dict(bearer, **{"Content-Type": "application/json"}),
    body=json.dumps({"using": j.USING, "methodCalls": [["Core/echo", {"hello": "inbox"}, "0"]]}).encode())
assert st == 200 and b"inbox" in body, (st, body)
# A web token is no password.
st, _, _ = j.http("GET", "/.well-known/jmap", auth=(j.USER, tok))
assert st == 401, st
im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
try:
    im.login(j.USER, tok)
    raise SystemExit("IMAP accepted a web session token")
except imaplib.IMAP4.error:
    pass
# JSON sign-in; wrong password; missing fields.
st, _, body = j.http("POST", "/auth/session", auth=None,
    headers={"Content-Type": "application/json"},
    body=json.dumps({"username": j.USER, "password": j.PASSWORD}).encode())
assert st == 201, (st, body)
other = json.loads(body)["token"]
assert other != tok
st, _, _ = j.http("POST", "/auth/session", auth=None,
    headers={"Content-Type": "application/json"},
    body=json.dumps({"username": j.USER, "password": "wrong"}).encode())
assert st == 401, st
st, _, _ = j.http("POST", "/auth/session", auth=None, body=b"username=x")
assert st == 400, st
# Sign-out revokes this session only.
st, _, _ = j.http("DELETE", "/auth/session", auth=None, headers=bearer)
assert st == 204, st
st, _, _ = j.http("GET", "/.well-known/jmap", auth=None, headers=bearer)
assert st == 401, st
st, _, _ = j.http("DELETE", "/auth/session", auth=None, headers=bearer)
assert st == 401, st
st, _, _ = j.http("GET", "/.well-known/jmap", auth=None,
    headers={"Authorization": "Bearer " + other})
assert st == 200, st
"##;
    assert_success(&python(&t, script, &[("TOKEN", &token)]), "web session");
    // Sign-out with an app password is refused (it is revoked by the CLI).
    let app = t.ok(&["user", "token", "add", USER, "laptop"]);
    let out = curl(&[
        "-i",
        "-X",
        "DELETE",
        "-H",
        &format!("Authorization: Bearer {}", app.trim()),
        &url,
    ]);
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
}

/// Wrong Bearer tokens count as failed logins of the address in the
/// limiter IMAP uses: after them IMAP refuses the address too.
#[test]
fn failed_tokens_count_in_the_login_limiter() {
    let t = Server::start(Setup {
        protocols: &["http", "imap"],
        extra: "[limits]\nmax_login_failures = 3\nlogin_failure_delay = \"50ms\"\n",
        ..Setup::default()
    });
    let script = r##"
import imaplib, os
import jmap_http as j
bad = {"Authorization": "Bearer tdg_" + "0" * 64}
for _ in range(3):
    st, _, _ = j.http("GET", "/.well-known/jmap", auth=None, headers=bad)
    assert st == 401, st
st, h, _ = j.http("GET", "/.well-known/jmap", auth=None, headers=bad)
assert st == 429 and int(h["Retry-After"]) > 0, (st, h)
im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
try:
    im.login(j.USER, j.PASSWORD)
    raise SystemExit("IMAP login accepted from a blocked address")
except imaplib.IMAP4.error:
    pass
"##;
    assert_success(&python(&t, script, &[]), "token failures");
}
