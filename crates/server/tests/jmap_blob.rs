//! JMAP blobs end to end: upload (RFC 8620 §6.1) streamed to disk with
//! its limits, download of what was uploaded, `Blob/copy` (§6.3), and
//! another account's blobs never visible. Clients: curl and Python's
//! http.client/urllib.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{PASSWORD, Server, Setup, assert_success};

const USER: &str = "bob@localhost";

fn python(server: &Server, script: &str) -> Output {
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
        .env("JMAP_PASSWORD", PASSWORD)
        .env("PORT_HTTP", server.port("http").to_string())
        .env("DATA_DIR", server.path("data"));
    if let Some(port) = server.try_port("imap") {
        cmd.env("PORT_IMAP", port.to_string());
    }
    cmd.output().unwrap()
}

fn start(extra: &str) -> Server {
    Server::start(Setup {
        protocols: &["http", "imap"],
        users: &[USER, "eve@localhost"],
        extra,
        ..Setup::default()
    })
}

/// The files left under the data directory's `blobs/uploads` and
/// `blobs/tmp`.
fn upload_files(t: &Server) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["blobs/uploads", "blobs/tmp"] {
        if let Ok(dir) = std::fs::read_dir(t.path("data").join(sub)) {
            for e in dir {
                out.push(format!(
                    "{sub}/{}",
                    e.unwrap().file_name().to_string_lossy()
                ));
            }
        }
    }
    out
}

/// curl uploads a small and a 2 MB body (the latter spooled to a file),
/// both come back byte for byte from the download URL, the same bytes
/// uploaded again get the same blobId, and the session advertises the
/// limit.
#[test]
fn upload_then_download_byte_exact() {
    let t = start("[jmap]\nmax_size_upload = 3000000\n");
    assert!(t.path("data").is_dir(), "the harness keeps data in data/");
    let base = format!("http://127.0.0.1:{}", t.port("http"));
    let auth = format!("{USER}:{PASSWORD}");
    let out = curl(&[
        "-u",
        &auth,
        "-H",
        "Content-Type: text/plain; charset=utf-8",
        "--data-binary",
        "hello upload\r\n",
        &format!("{base}/upload/A1/"),
    ]);
    assert!(out.contains("\"blobId\":\"G"), "{out}");
    assert!(out.contains("\"size\":14"), "{out}");
    assert!(
        out.contains("\"type\":\"text/plain; charset=utf-8\""),
        "{out}"
    );
    let script = r##"
import hashlib, http.client, json, os
import jmap_http as j
st, _, body = j.http("GET", "/.well-known/jmap")
core = json.loads(body)["capabilities"]["urn:ietf:params:jmap:core"]
assert core["maxSizeUpload"] == 3000000, core
big = bytes((i * 7 + i // 251) % 256 for i in range(2_000_000))
st, h, body = j.http("POST", "/upload/A1/", body=big, headers={"Content-Type": "application/pdf"})
assert st == 201, (st, body)
up = json.loads(body)
assert up["size"] == len(big) and up["type"] == "application/pdf" and up["accountId"] == "A1", up
assert up["blobId"] == "G" + hashlib.sha256(big).hexdigest(), up
st, h, got = j.http("GET", "/download/A1/%s/x.pdf?accept=application/pdf" % up["blobId"])
assert st == 200 and got == big, (st, len(got))
# Same bytes again (chunked, no Content-Length): same blob.
c = http.client.HTTPConnection("127.0.0.1", int(os.environ["PORT_HTTP"]), timeout=15)
c.putrequest("POST", "/upload/A1/")
c.putheader("Authorization", j.basic(j.USER, j.PASSWORD))
c.putheader("Transfer-Encoding", "chunked")
c.endheaders()
for i in range(0, len(big), 65536):
    piece = big[i:i + 65536]
    c.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
c.send(b"0\r\n\r\n")
r = c.getresponse()
again = json.loads(r.read())
assert r.status == 201 and again["blobId"] == up["blobId"], (r.status, again)
files = os.listdir(os.path.join(os.environ["DATA_DIR"], "blobs", "uploads"))
assert len(files) == 1, files
"##;
    assert_success(&python(&t, script), "upload and download");
}

/// Too big is refused (413 `limit` problem) before reading when
/// Content-Length says so, and as soon as a chunked body passes the
/// limit; nothing is kept either way, the server stays up, and the
/// per-account upload quota refuses what would pass it.
#[test]
fn upload_limits_keep_nothing() {
    let t = start("[jmap]\nmax_size_upload = 100000\nupload_quota = 150000\n");
    let script = r##"
import http.client, json, os
import jmap_http as j
st, _, body = j.http("POST", "/upload/A1/", body=b"x" * 100001)
assert st == 413, (st, body)
p = json.loads(body)
assert p["type"] == "urn:ietf:params:jmap:error:limit" and p["limit"] == "maxSizeUpload", p
# Chunked, no length: refused once past the limit.
c = http.client.HTTPConnection("127.0.0.1", int(os.environ["PORT_HTTP"]), timeout=15)
c.putrequest("POST", "/upload/A1/")
c.putheader("Authorization", j.basic(j.USER, j.PASSWORD))
c.putheader("Transfer-Encoding", "chunked")
c.endheaders()
try:
    for _ in range(40):
        c.send(b"%x\r\n" % 8192 + b"y" * 8192 + b"\r\n")
    c.send(b"0\r\n\r\n")
except (BrokenPipeError, ConnectionResetError):
    pass
r = c.getresponse()
assert r.status == 413, r.status
assert json.loads(r.read())["limit"] == "maxSizeUpload"
# The quota: 90 KB + 90 KB > 150 KB.
st, _, body = j.http("POST", "/upload/A1/", body=b"a" * 90000)
assert st == 201, (st, body)
st, _, body = j.http("POST", "/upload/A1/", body=b"b" * 90000)
assert st == 413 and json.loads(body)["limit"] == "uploadQuota", (st, body)
# Still up.
st, _, _ = j.http("GET", "/.well-known/jmap")
assert st == 200
"##;
    assert_success(&python(&t, script), "upload limits");
    // Only the one accepted upload is kept (90 KB: a file), no spool.
    let files = upload_files(&t);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("blobs/uploads/"), "{files:?}");
}

/// Another account's blobs: eve cannot download bob's upload, upload
/// into bob's account, or copy it; bob's Blob/copy within his account
/// answers per RFC 8620 §6.3.
#[test]
fn another_accounts_blobs_are_never_visible() {
    let t = start("");
    let script = r##"
import json
import jmap_http as j
EVE = ("eve@localhost", j.PASSWORD)
st, _, body = j.http("POST", "/upload/A1/", body=b"bob's secret", headers={"Content-Type": "text/plain"})
assert st == 201, (st, body)
blob = json.loads(body)["blobId"]
st, _, _ = j.http("GET", "/download/A1/%s/s.txt" % blob)
assert st == 200
for path in ["/download/A1/%s/s.txt" % blob, "/download/A2/%s/s.txt" % blob]:
    st, _, _ = j.http("GET", path, auth=EVE)
    assert st == 404, (path, st)
st, _, _ = j.http("POST", "/upload/A1/", body=b"x", auth=EVE)
assert st == 404, st
def call(method, args, auth):
    st, _, body = j.http("POST", "/jmap/", auth=auth, headers={"Content-Type": "application/json"},
        body=json.dumps({"using": j.USING, "methodCalls": [[method, args, "0"]]}).encode())
    assert st == 200, (st, body)
    return json.loads(body)["methodResponses"][0]
r = call("Blob/copy", {"fromAccountId": "A2", "accountId": "A2", "blobIds": [blob]}, EVE)
assert r[0] == "Blob/copy" and r[1]["notCopied"][blob]["type"] == "notFound", r
r = call("Blob/copy", {"fromAccountId": "A1", "accountId": "A2", "blobIds": [blob]}, EVE)
assert r[0] == "error" and r[1]["type"] == "fromAccountNotFound", r
r = call("Blob/copy", {"fromAccountId": "A1", "accountId": "A1", "blobIds": [blob, "Gdead"]}, (j.USER, j.PASSWORD))
assert r[1]["copied"] == {blob: blob} and r[1]["notCopied"]["Gdead"]["type"] == "notFound", r
r = call("Blob/copy", {"fromAccountId": "A1", "accountId": "A9", "blobIds": [blob]}, (j.USER, j.PASSWORD))
assert r[0] == "error" and r[1]["type"] == "accountNotFound", r
"##;
    assert_success(&python(&t, script), "blob isolation");
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
