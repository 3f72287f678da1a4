//! `GET /metrics`: after real clients (imaplib, poplib, smtplib) used the
//! server, Prometheus's own Python client library parses the page and finds
//! the counts those sessions must have left; a peer that is not on loopback
//! needs the `[metrics] token_file` token. And `[log] format = "json"`
//! makes every log line a JSON object.

mod common;

use common::{PASSWORD, Server, Setup};

const USER: &str = "bob@localhost";

#[test]
fn metrics_count_what_real_clients_did() {
    let server = Server::start(Setup {
        protocols: &["http", "imap", "pop3", "smtp"],
        users: &[USER],
        ..Setup::default()
    });
    let python = common::pyvenv_python("prometheus_client");
    server.run_python(
        &python,
        r#"
import imaplib, os, poplib, smtplib, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families

def scrape():
    with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % os.environ["PORT_HTTP"]) as r:
        assert r.headers["Content-Type"].startswith("application/openmetrics-text"), r.headers
        text = r.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples

def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)

before = scrape()
with smtplib.SMTP("127.0.0.1", int(os.environ["PORT_SMTP"])) as s:
    s.sendmail("ann@example.org", ["bob@localhost"],
               b"From: ann@example.org\r\nTo: bob@localhost\r\nSubject: hi\r\n\r\nhello\r\n")
im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
try:
    im.login("bob@localhost", "wrong password")
    raise SystemExit("a wrong password logged in")
except imaplib.IMAP4.error:
    pass
im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
im.login("bob@localhost", os.environ["PASSWORD"])
im.select("INBOX")
typ, data = im.fetch("1", "(BODY.PEEK[])")
assert typ == "OK" and b"hello" in data[0][1], data
im.logout()
p = poplib.POP3("127.0.0.1", int(os.environ["PORT_POP3"]))
p.user("bob@localhost"); p.pass_(os.environ["PASSWORD"]); p.stat(); p.quit()
after = scrape()

def grew(name, by, **labels):
    d = value(after, name, **labels) - value(before, name, **labels)
    assert d == by, "%s%r grew by %s, not %s" % (name, labels, d, by)

grew("tidings_connections_total", 2, protocol="imap")
grew("tidings_connections_total", 1, protocol="pop3")
grew("tidings_connections_total", 1, protocol="smtp")
grew("tidings_command_duration_seconds_count", 1, protocol="imap", command="FETCH")
grew("tidings_command_duration_seconds_count", 2, protocol="imap", command="LOGIN")
grew("tidings_command_duration_seconds_count", 1, protocol="pop3", command="STAT")
grew("tidings_command_duration_seconds_count", 1, protocol="smtp", command="MAIL")
grew("tidings_command_duration_seconds_count", 1, protocol="smtp", command="end-of-data")
grew("tidings_logins_total", 1, result="failed")
grew("tidings_logins_total", 2, result="ok")
grew("tidings_deliveries_in_total", 1, result="accepted")
assert value(after, "tidings_store_commit_group_size_count") > value(before, "tidings_store_commit_group_size_count")
assert value(after, "tidings_blob_written_bytes_total") >= 0
assert value(after, "tidings_queue_messages") == 0
# The sessions ended: nothing of theirs is open (this scrape is).
assert value(after, "tidings_connections_open", protocol="imap") == 0
assert value(after, "tidings_connections_open", protocol="http") >= 1
"#,
        "metrics after imaplib, poplib and smtplib sessions",
    );
}

/// A scraper that is not on this machine is refused without the token and
/// served with it (over HTTPS). Runs in a network namespace of its own,
/// where the server and curl meet on an address that is not loopback.
#[test]
fn metrics_elsewhere_need_the_token() {
    if !common::in_private_netns("metrics_elsewhere_need_the_token") {
        return;
    }
    let secrets = tempfile::tempdir().unwrap();
    let token_file = secrets.path().join("metrics.token");
    let token = "0123456789abcdef-metrics-token";
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let extra = format!("[metrics]\ntoken_file = \"{}\"\n", token_file.display());
    let server = Server::start(Setup {
        protocols: &["https"],
        host: common::NETNS_ADDR,
        extra: &extra,
        ..Setup::default()
    });
    let url = format!(
        "https://{}:{}/metrics",
        common::NETNS_ADDR,
        server.port("https")
    );
    let curl = |extra: &[&str]| {
        let o = std::process::Command::new("curl")
            .args(["-sk", "--max-time", "15", "-w", "\n%{http_code}"])
            .args(extra)
            .arg(&url)
            .output()
            .expect("curl is needed: scripts/install-deps");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let refused = curl(&[]);
    assert!(refused.ends_with("\n403"), "{refused}");
    let wrong = curl(&["-H", "Authorization: Bearer 0123456789abcdef-wrong-token"]);
    assert!(wrong.ends_with("\n403"), "{wrong}");
    let served = curl(&["-H", &format!("Authorization: Bearer {token}")]);
    assert!(served.ends_with("\n200"), "{served}");
    assert!(
        served.contains("tidings_connections_total{protocol=\"http\"}"),
        "{served}"
    );
}

/// `[log] format = "json"`: every line the server logs is one JSON object
/// with the level, the message and the connection's span.
#[test]
fn json_logs_are_one_object_per_line() {
    let mut server = Server::start(Setup {
        protocols: &["imap"],
        users: &[USER],
        extra: "[log]\nformat = \"json\"\n",
        ..Setup::default()
    });
    let (mut c, _) = common::Raw::connect(server.port("imap"));
    c.cmd(&format!("a1 LOGIN {USER} \"{PASSWORD}\""));
    c.cmd("a2 LOGOUT");
    server.terminate();
    let rest = server.rest_of_log();
    let lines: Vec<&str> = server
        .startup_log()
        .iter()
        .chain(&rest)
        .map(String::as_str)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"message\":\"login\"") && l.contains(USER)),
        "{lines:?}"
    );
    let python = common::pyvenv_python("json");
    let script = r#"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
for l in lines:
    o = json.loads(l)
    assert o["level"] in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR"), o
    assert "message" in o["fields"], o
assert any("listening on" in json.loads(l)["fields"]["message"] for l in lines), lines
"#;
    let file = server.path("log.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let o = std::process::Command::new(python)
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    common::assert_success(&o, "every log line parses as JSON");
}
