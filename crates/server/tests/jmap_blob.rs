//! JMAP blobs end to end: upload (RFC 8620 §6.1) streamed to disk with
//! its limits, download of what was uploaded, `Blob/copy` (§6.3),
//! another account's blobs never visible, and the emails made of blobs
//! (RFC 8621): `Email/import`, `Email/parse`, `Email/set` create and
//! `Email/copy`, each checked through IMAP (imaplib) as well. Clients:
//! curl and Python's http.client/urllib/imaplib.

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

/// Python helpers the email tests share: mailbox ids by role, and a
/// message with a text body and an attached message.
const EMAIL_HELPERS: &str = r##"
import base64, email, email.policy, imaplib, json, os
import jmap_http as j
def mailbox(role, auth=(j.USER, j.PASSWORD)):
    r = call("Mailbox/query", {"accountId": account(auth), "filter": {"role": role}}, auth)
    assert r[0] == "Mailbox/query" and len(r[1]["ids"]) == 1, r
    return r[1]["ids"][0]
def account(auth):
    st, _, body = j.http("GET", "/.well-known/jmap", auth=auth)
    return json.loads(body)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
def call(method, args, auth=(j.USER, j.PASSWORD)):
    st, _, body = j.http("POST", "/jmap/", auth=auth, headers={"Content-Type": "application/json"},
        body=json.dumps({"using": j.USING, "methodCalls": [[method, args, "0"]]}).encode())
    assert st == 200, (st, body)
    return json.loads(body)["methodResponses"][0]
def upload(data, ctype="message/rfc822", auth=(j.USER, j.PASSWORD)):
    st, _, body = j.http("POST", "/upload/%s/" % account(auth), body=data, headers={"Content-Type": ctype}, auth=auth)
    assert st == 201, (st, body)
    return json.loads(body)["blobId"]
def flags_of(meta):
    return sorted(f for f in meta.split(b"FLAGS (")[1].split(b")")[0].split() if f != b"\\Recent")
def imap(user=j.USER):
    m = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
    m.login(user, j.PASSWORD)
    return m
INNER = (b"From: Carol <carol@example.org>\r\nTo: bob@localhost\r\nSubject: inner note\r\n"
         b"Message-ID: <inner@example.org>\r\nContent-Type: text/plain\r\n\r\nthe inner body\r\n")
OUTER = (b"From: Alice <alice@example.org>\r\nTo: bob@localhost\r\nSubject: outer\r\n"
         b"Message-ID: <outer@example.org>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n"
         b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
         b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n"
         b"--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
         + INNER + b"--b1--\r\n")
"##;

/// Email/import of an uploaded message into two mailboxes (one made in
/// the same request) with keywords and receivedAt: the response names
/// the new email, IMAP sees the exact bytes with those flags and that
/// INTERNALDATE in both, also after a SIGKILL right after the response
/// (durable). Bad imports (unknown blob, a blob that is no message, an
/// unknown mailbox, a bad keyword, a stale ifInState) change nothing.
#[test]
fn import_lands_in_imap_with_flags_and_survives_a_kill() {
    let mut t = start("");
    let script = format!(
        "{EMAIL_HELPERS}{}",
        r##"
blob = upload(OUTER)
inbox = mailbox("inbox")
st, _, body = j.http("POST", "/jmap/", headers={"Content-Type": "application/json"}, body=json.dumps({
  "using": j.USING, "methodCalls": [
    ["Mailbox/set", {"accountId": "A1", "create": {"w": {"name": "Work"}}}, "0"],
    ["Email/import", {"accountId": "A1", "emails": {"e1": {
        "blobId": blob, "mailboxIds": {inbox: True, "#w": True},
        "keywords": {"$seen": True, "$flagged": True, "Project": True},
        "receivedAt": "2020-01-02T03:04:05Z"}},
        "#ifInState": {"resultOf": "0", "name": "Mailbox/set", "path": "/newState"}}, "1"]]}).encode())
assert st == 200, (st, body)
[mb, imp] = json.loads(body)["methodResponses"]
assert imp[0] == "Email/import", imp
c = imp[1]["created"]["e1"]
assert c["size"] == len(OUTER) and c["id"].startswith("M") and c["threadId"].startswith("T"), c
assert c["blobId"] == c["id"] and imp[1]["notCreated"] is None, imp
got = call("Email/get", {"accountId": "A1", "ids": [c["id"]], "properties": ["mailboxIds", "keywords", "receivedAt", "subject", "size"]})
e = got[1]["list"][0]
assert e["subject"] == "outer" and e["receivedAt"] == "2020-01-02T03:04:05Z", e
assert e["keywords"] == {"$seen": True, "$flagged": True, "project": True}, e
assert set(e["mailboxIds"]) >= {inbox, mb[1]["created"]["w"]["id"]}, e
st, _, raw = j.http("GET", "/download/A1/%s/m.eml" % c["blobId"])
assert st == 200 and raw == OUTER, (st, raw)

# Bad imports: each refused alone, nothing stored.
before = call("Email/query", {"accountId": "A1"})[1]["ids"]
text = upload(b"\x89PNG\r\n\x1a\n\x00\x00binary", "image/png")
r = call("Email/import", {"accountId": "A1", "emails": {
    "nf": {"blobId": "G" + "0" * 64, "mailboxIds": {inbox: True}},
    "bin": {"blobId": text, "mailboxIds": {inbox: True}},
    "mb": {"blobId": blob, "mailboxIds": {"F999": True}},
    "none": {"blobId": blob, "mailboxIds": {}},
    "kw": {"blobId": blob, "mailboxIds": {inbox: True}, "keywords": {"a b": True}},
    "when": {"blobId": blob, "mailboxIds": {inbox: True}, "receivedAt": "yesterday"},
    "extra": {"blobId": blob, "mailboxIds": {inbox: True}, "subject": "x"}}})
nc = r[1]["notCreated"]
assert r[1]["created"] is None, r
assert nc["nf"]["type"] == "blobNotFound" and nc["nf"]["notFound"] == ["G" + "0" * 64], nc
assert nc["bin"]["type"] == "invalidEmail", nc
for k, p in [("mb", "mailboxIds"), ("none", "mailboxIds"), ("kw", "keywords"), ("when", "receivedAt"), ("extra", "subject")]:
    assert nc[k]["type"] == "invalidProperties" and nc[k]["properties"] == [p], (k, nc[k])
r = call("Email/import", {"accountId": "A1", "ifInState": "1", "emails": {"x": {"blobId": blob, "mailboxIds": {inbox: True}}}})
assert r[0] == "error" and r[1]["type"] == "stateMismatch", r
r = call("Email/import", {"accountId": "A2", "emails": {}})
assert r[0] == "error" and r[1]["type"] == "accountNotFound", r
assert call("Email/query", {"accountId": "A1"})[1]["ids"] == before
"##
    );
    assert_success(&python(&t, &script), "Email/import");
    t.kill_and_restart();
    let check = format!(
        "{EMAIL_HELPERS}{}",
        r##"
m = imap()
for box in ["INBOX", "Work"]:
    typ, data = m.select(box)
    assert typ == "OK" and data == [b"1"], (box, typ, data)
    typ, data = m.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])")
    assert typ == "OK", data
    meta, raw = data[0]
    assert raw == OUTER, raw
    assert flags_of(meta) == [b"\\Flagged", b"\\Seen", b"project"], meta
    assert b'INTERNALDATE " 2-Jan-2020 03:04:05 +0000"' in meta, meta
typ, data = m.select("Starred")
assert data == [b"1"], data
m.logout()
"##
    );
    assert_success(
        &python(&t, &check),
        "the import after SIGKILL, through IMAP",
    );
}

/// Email/parse of an upload (headers, text body, the attached message
/// as a part with its own blobId), of that part's blob (the inner
/// message, nested ids), and of a stored email; notFound and
/// notParsable; the part blobs download.
#[test]
fn parse_uploads_and_attached_messages() {
    let t = start("");
    let script = format!(
        "{EMAIL_HELPERS}{}",
        r##"
blob = upload(OUTER)
png = upload(b"\x89PNG\r\n\x1a\n\x00\x00binary", "image/png")
r = call("Email/parse", {"accountId": "A1", "blobIds": [blob, png, "Gdead", "M999"], "fetchTextBodyValues": True})
assert r[0] == "Email/parse", r
p = r[1]["parsed"][blob]
assert p["subject"] == "outer" and p["from"] == [{"name": "Alice", "email": "alice@example.org"}], p
assert p["messageId"] == ["outer@example.org"] and p["sentAt"] == "2026-12-01T10:00:00Z", p
[tb] = p["textBody"]
assert p["bodyValues"][tb["partId"]]["value"].strip() == "see attached", p
[att] = p["attachments"]
assert att["type"] == "message/rfc822" and att["blobId"].startswith(blob + ".P"), att
assert r[1]["notParsable"] == [png] and sorted(r[1]["notFound"]) == ["Gdead", "M999"], r
r = call("Email/parse", {"accountId": "A1", "blobIds": [att["blobId"]], "properties": ["id", "blobId", "size", "subject", "from", "textBody", "bodyValues", "keywords", "mailboxIds"], "fetchTextBodyValues": True})
q = r[1]["parsed"][att["blobId"]]
assert q["subject"] == "inner note" and q["from"][0]["email"] == "carol@example.org", q
assert q["id"] is None and q["keywords"] is None and q["mailboxIds"] is None, q
st, _, inner = j.http("GET", "/download/A1/%s/inner.eml" % att["blobId"])
assert st == 200 and inner.rstrip() == INNER.rstrip(), (st, inner)
assert q["blobId"] == att["blobId"] and q["size"] == len(inner), q
[itb] = q["textBody"]
assert q["bodyValues"][itb["partId"]]["value"].strip() == "the inner body", q
st, _, got = j.http("GET", "/download/A1/%s/t.txt" % itb["blobId"])
assert st == 200 and got.strip() == b"the inner body", (st, got)
for bad in [att["blobId"] + ".P99", blob + ".P01", blob + ".Px"]:
    st, _, _ = j.http("GET", "/download/A1/%s/x" % bad)
    assert st == 404, (bad, st)
# A stored email parses too; then its attached message imports as an email.
inbox = mailbox("inbox")
r = call("Email/import", {"accountId": "A1", "emails": {"a": {"blobId": att["blobId"], "mailboxIds": {inbox: True}}}})
new = r[1]["created"]["a"]
assert new["size"] == len(inner), r
r = call("Email/parse", {"accountId": "A1", "blobIds": [new["blobId"]], "properties": ["subject"]})
assert r[1]["parsed"][new["blobId"]]["subject"] == "inner note", r
r = call("Email/parse", {"accountId": "A1", "blobIds": [blob], "properties": ["nonsense"]})
assert r[0] == "error" and r[1]["type"] == "invalidArguments", r
# Another account's blob is not found.
r = call("Email/parse", {"accountId": "A2", "blobIds": [blob]}, ("eve@localhost", j.PASSWORD))
assert r[1]["notFound"] == [blob], r
"##
    );
    assert_success(&python(&t, &script), "Email/parse");
}

/// Email/set create: a draft with non-ASCII headers, text and HTML
/// bodies and an uploaded attachment lands in Drafts with \Draft for
/// IMAP, and Python's email package reads back what was asked for; a
/// bodyStructure create too. Forbidden shapes are invalidProperties,
/// an unknown blob blobNotFound, and none of them stores anything.
#[test]
fn set_create_builds_drafts_imap_reads() {
    let t = start("");
    let script = format!(
        "{EMAIL_HELPERS}{}",
        r##"
drafts = mailbox("drafts")
pdf = upload(bytes(range(256)) * 40, "application/pdf")
r = call("Email/set", {"accountId": "A1", "create": {"d1": {
    "mailboxIds": {drafts: True}, "keywords": {"$draft": True, "$seen": True},
    "from": [{"name": "Bob Bäcker", "email": "bob@localhost"}],
    "to": [{"name": "Joe Q. Public", "email": "joe@example.org"}, {"email": "ann@example.org"}],
    "subject": "Grüße — a draft", "sentAt": "2026-12-03T09:30:00+01:00",
    "inReplyTo": ["orig@example.org"], "header:X-Tidings-Test:asText": "hello",
    "bodyValues": {"t": {"value": "Hallo Welt, ß\nsecond line\n"}, "h": {"value": "<p>Hallo <b>Welt</b></p>"}},
    "textBody": [{"partId": "t", "type": "text/plain"}],
    "htmlBody": [{"partId": "h", "type": "text/html"}],
    "attachments": [{"blobId": pdf, "type": "application/pdf", "name": "résumé.pdf"}]}}})
assert r[0] == "Email/set", r
d = r[1]["created"]["d1"]
assert d["id"].startswith("M") and d["size"] > 10240, d
r = call("Email/get", {"accountId": "A1", "ids": [d["id"]], "properties": ["subject", "from", "to", "keywords", "mailboxIds", "sentAt", "inReplyTo", "textBody", "htmlBody", "attachments", "bodyValues", "header:X-Tidings-Test:asText"], "fetchAllBodyValues": True})
e = r[1]["list"][0]
assert e["subject"] == "Grüße — a draft" and e["from"] == [{"name": "Bob Bäcker", "email": "bob@localhost"}], e
assert e["to"] == [{"name": "Joe Q. Public", "email": "joe@example.org"}, {"name": None, "email": "ann@example.org"}], e["to"]
assert e["keywords"] == {"$draft": True, "$seen": True} and drafts in e["mailboxIds"], e
assert e["sentAt"] == "2026-12-03T08:30:00Z" and e["inReplyTo"] == ["orig@example.org"], e
assert e["header:X-Tidings-Test:asText"] == "hello", e
[tb], [hb], [att] = e["textBody"], e["htmlBody"], e["attachments"]
assert e["bodyValues"][tb["partId"]]["value"].replace("\r\n", "\n") == "Hallo Welt, ß\nsecond line\n", e["bodyValues"]
assert e["bodyValues"][hb["partId"]]["value"] == "<p>Hallo <b>Welt</b></p>", e["bodyValues"]
assert att["name"] == "résumé.pdf" and att["type"] == "application/pdf" and att["size"] == 10240, att
st, _, got = j.http("GET", "/download/A1/%s/r.pdf" % att["blobId"])
assert got == bytes(range(256)) * 40

m = imap()
typ, data = m.select("Drafts")
assert data == [b"1"], data
typ, data = m.fetch("1", "(FLAGS BODY.PEEK[])")
meta, raw = data[0]
assert flags_of(meta) == [b"\\Draft", b"\\Seen"], meta
assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), "CRLF only"
msg = email.message_from_bytes(raw, policy=email.policy.default)
assert msg["Subject"] == "Grüße — a draft", msg["Subject"]
assert msg["Date"].datetime.isoformat() == "2026-12-03T09:30:00+01:00", msg["Date"]
assert msg["Message-ID"].endswith("@localhost>") and msg["MIME-Version"] == "1.0", msg["Message-ID"]
assert msg.get_content_type() == "multipart/mixed", msg.get_content_type()
alt, pdfpart = msg.get_payload()
assert alt.get_content_type() == "multipart/alternative"
text = alt.get_payload()[0].get_content().replace("\r\n", "\n")
assert text == "Hallo Welt, ß\nsecond line\n", repr(text)
assert pdfpart.get_filename() == "résumé.pdf" and pdfpart.get_content() == bytes(range(256)) * 40
m.logout()

# bodyStructure: a text part and an attached message (from an upload).
inbox = mailbox("inbox")
inner = upload(INNER)
r = call("Email/set", {"accountId": "A1", "create": {"s": {
    "mailboxIds": {inbox: True}, "subject": "structure", "from": [{"email": "bob@localhost"}],
    "bodyValues": {"1": {"value": "see the message"}},
    "bodyStructure": {"type": "multipart/mixed", "subParts": [
        {"partId": "1"}, {"blobId": inner, "type": "message/rfc822", "disposition": "attachment"}]}}}})
s = r[1]["created"]["s"]
r = call("Email/get", {"accountId": "A1", "ids": [s["id"]], "properties": ["attachments", "hasAttachment"]})
[a] = r[1]["list"][0]["attachments"]
assert a["type"] == "message/rfc822" and r[1]["list"][0]["hasAttachment"], r
st, _, got = j.http("GET", "/download/A1/%s/m.eml" % a["blobId"])
assert got.rstrip() == INNER.rstrip(), got

# Refused shapes: nothing stored.
before = call("Email/query", {"accountId": "A1"})[1]["ids"]
base = {"mailboxIds": {drafts: True}}
bad = {
  "srv": ({"id": "M1"}, "id"),
  "hdrs": ({"headers": [{"name": "X", "value": "y"}]}, "headers"),
  "twice": ({"subject": "a", "header:Subject": " b"}, "header:Subject"),
  "inject": ({"header:X-A:asRaw": " a\r\nBcc: evil@example.org"}, "header:X-A:asRaw"),
  "content": ({"header:Content-Type": " text/plain"}, "header:Content-Type"),
  "addr": ({"to": [{"email": "x@y>\r\nBcc: z@w"}]}, "to"),
  "both": ({"bodyStructure": {"partId": "1"}, "textBody": [{"partId": "1"}], "bodyValues": {"1": {"value": "x"}}}, "textBody"),
  "two": ({"textBody": [{"partId": "1"}, {"partId": "1"}], "bodyValues": {"1": {"value": "x"}}}, "textBody"),
  "html": ({"textBody": [{"partId": "1", "type": "text/html"}], "bodyValues": {"1": {"value": "x"}}}, "textBody"),
  "cte": ({"textBody": [{"partId": "1", "header:Content-Transfer-Encoding": " base64"}], "bodyValues": {"1": {"value": "x"}}}, "textBody"),
  "charset": ({"textBody": [{"partId": "1", "charset": "utf-8"}], "bodyValues": {"1": {"value": "x"}}}, "textBody"),
  "novalue": ({"textBody": [{"partId": "9"}]}, "bodyValues"),
  "trunc": ({"textBody": [{"partId": "1"}], "bodyValues": {"1": {"value": "x", "isTruncated": True}}}, "bodyValues"),
  "nombox": ({"mailboxIds": {}}, "mailboxIds"),
}
create = {}
for k, (extra, _) in bad.items():
    o = dict(base); o.update(extra); create[k] = o
create["blob"] = dict(base, attachments=[{"blobId": "G" + "1" * 64}])
r = call("Email/set", {"accountId": "A1", "create": create})
nc = r[1]["notCreated"]
assert r[1]["created"] == {} or r[1]["created"] is None, r
for k, (extra, p) in bad.items():
    # Two properties for one field: either may be the one refused.
    ok = [p] if k != "twice" else [["subject"], ["header:Subject"]]
    assert nc[k]["type"] == "invalidProperties" and (nc[k]["properties"] == [p] or nc[k]["properties"] in ok), (k, nc[k])
assert nc["blob"]["type"] == "blobNotFound" and nc["blob"]["notFound"] == ["G" + "1" * 64], nc["blob"]
assert call("Email/query", {"accountId": "A1"})[1]["ids"] == before
"##
    );
    assert_success(&python(&t, &script), "Email/set create");
}

/// Email/copy from an account that shares its INBOX with the caller
/// (IMAP SETACL): the copy lands in the caller's mailbox with the
/// original's keywords, and onSuccessDestroyOriginal destroys the
/// original when the caller may delete and expunge there (forbidden
/// when it may only read). An account that shares nothing, the caller's
/// own, and an email outside the shared mailbox are not found.
#[test]
fn copy_from_a_shared_mailbox() {
    let t = start("");
    let raw = common::message("shared with bob");
    t.deliver("eve@localhost", &raw);
    t.deliver("eve@localhost", &common::message("second"));
    let script = format!(
        "{EMAIL_HELPERS}{}",
        r##"
EVE = ("eve@localhost", j.PASSWORD)
eve = account(EVE)
ids = [call("Email/query", {"accountId": eve, "filter": {"subject": s}}, EVE)[1]["ids"][0] for s in ["shared", "second"]]
assert len(set(ids)) == 2, ids
call("Email/set", {"accountId": eve, "update": {ids[0]: {"keywords/$flagged": True}}}, EVE)
inbox = mailbox("inbox")
r = call("Email/copy", {"fromAccountId": eve, "accountId": "A1", "create": {"c": {"id": ids[0], "mailboxIds": {inbox: True}}}})
assert r[0] == "error" and r[1]["type"] == "fromAccountNotFound", r
m = imap("eve@localhost")
typ, data = m.setacl("INBOX", "bob@localhost", "lr")
assert typ == "OK", data
# Eve's Sent is not shared: an email there is not found for bob.
sent = mailbox("sent", EVE)
r = call("Email/set", {"accountId": eve, "update": {ids[1]: {"mailboxIds": {sent: True}}}}, EVE)
assert r[1]["updated"], r
r = call("Email/copy", {"fromAccountId": eve, "accountId": "A1", "onSuccessDestroyOriginal": True, "create": {
    "c": {"id": ids[0], "mailboxIds": {inbox: True}},
    "hidden": {"id": ids[1], "mailboxIds": {inbox: True}},
    "bad": {"id": ids[0], "mailboxIds": {"F999": True}}}}, )
resp = r
assert r[0] == "Email/copy", r
c = r[1]["created"]["c"]
assert r[1]["notCreated"]["hidden"]["type"] == "notFound", r
assert r[1]["notCreated"]["bad"]["type"] == "invalidProperties", r
st, _, body = j.http("POST", "/jmap/", headers={"Content-Type": "application/json"}, body=json.dumps({
  "using": j.USING, "methodCalls": [["Email/copy", {"fromAccountId": eve, "accountId": "A1", "onSuccessDestroyOriginal": True,
     "create": {"c2": {"id": ids[0], "mailboxIds": {inbox: True}}}}, "k"]]}).encode())
out = json.loads(body)["methodResponses"]
assert [x[0] for x in out] == ["Email/copy", "Email/set"] and out[1][2] == "k", out
assert out[1][1]["notDestroyed"][ids[0]]["type"] == "forbidden" and out[1][1]["destroyed"] == [], out
typ, data = m.setacl("INBOX", "bob@localhost", "lrte")
assert typ == "OK", data
st, _, body = j.http("POST", "/jmap/", headers={"Content-Type": "application/json"}, body=json.dumps({
  "using": j.USING, "methodCalls": [["Email/copy", {"fromAccountId": eve, "accountId": "A1", "onSuccessDestroyOriginal": True,
     "create": {"c3": {"id": ids[0], "mailboxIds": {inbox: True}, "keywords": {"$seen": True}}}}, "k"]]}).encode())
out = json.loads(body)["methodResponses"]
assert out[1][0] == "Email/set" and out[1][1]["destroyed"] == [ids[0]] and out[1][1]["accountId"] == eve, out
m.select("INBOX")
typ, data = m.search(None, "ALL")
assert data == [b""], data
m.logout()
# Bob has three copies: two flagged like the original, one only seen.
b = imap()
b.select("INBOX")
typ, data = b.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
subjects = [x[1] for x in data if isinstance(x, tuple)]
flags = [x[0].split(b"FLAGS (")[1].split(b")")[0].replace(b" \\Recent", b"") for x in data if isinstance(x, tuple)]
assert len(subjects) == 3 and all(b"shared with bob" in s for s in subjects), data
assert flags == [b"\\Flagged", b"\\Flagged", b"\\Seen"], flags
b.logout()
r = call("Email/copy", {"fromAccountId": "A1", "accountId": "A1", "create": {}})
assert r[0] == "error" and r[1]["type"] == "fromAccountNotFound", r
# Eve's account, shared with bob, is read-only for him.
r = call("Email/copy", {"fromAccountId": eve, "accountId": eve, "create": {}})
assert r[0] == "error" and r[1]["type"] == "accountReadOnly", r
"##
    );
    assert_success(&python(&t, &script), "Email/copy");
}

/// A mailbox shared over IMAP (SETACL) makes its owner's account appear in
/// the grantee's JMAP session, read-only and with mail only: the grantee
/// gets the shared mailbox (with its rights) and the emails in it, and
/// nothing of the owner's other mailboxes; downloads are limited the same
/// way; changes are `accountReadOnly`, `/changes` cannot be calculated,
/// other data types are not supported; the EventSource pushes a change
/// of the shared mailbox under the owner's id. Revoking the share takes
/// the account out of the session again.
#[test]
fn a_shared_mailbox_shows_as_a_read_only_account() {
    let t = start("");
    t.deliver("eve@localhost", &common::message("shared with bob"));
    t.deliver("eve@localhost", &common::message("private to eve"));
    let script = format!(
        "{EMAIL_HELPERS}{}",
        r##"
import http.client, threading
EVE = ("eve@localhost", j.PASSWORD)
eve = account(EVE)
s = j.session()
assert list(s["accounts"]) == ["A1"] and s["accounts"]["A1"]["isPersonal"], s
state0 = s["state"]
# Eve makes a Team folder, moves one email there and shares it.
m = imap("eve@localhost")
assert m.create("Team")[0] == "OK"
m.select("INBOX")
typ, data = m.search(None, "SUBJECT", "shared")
assert m.copy(data[0], "Team")[0] == "OK"
assert m.setacl("Team", "bob@localhost", "lr")[0] == "OK"
# The Sent mailbox: looked up but not read.
assert m.setacl("Sent", "bob@localhost", "l")[0] == "OK"
s = j.session()
assert set(s["accounts"]) == {"A1", eve}, s
a = s["accounts"][eve]
assert a["name"] == "eve@localhost" and not a["isPersonal"] and a["isReadOnly"], a
assert list(a["accountCapabilities"]) == ["urn:ietf:params:jmap:mail"], a
assert s["state"] != state0 and s["primaryAccounts"]["urn:ietf:params:jmap:mail"] == "A1", s
r = call("Mailbox/get", {"accountId": eve})
assert r[0] == "Mailbox/get", r
boxes = {b["name"]: b for b in r[1]["list"]}
assert set(boxes) == {"Team", "Sent"}, boxes
team = boxes["Team"]
assert team["totalEmails"] == 1 and team["myRights"]["mayReadItems"], team
assert not team["myRights"]["mayAddItems"] and not team["myRights"]["mayDelete"], team
assert boxes["Sent"]["myRights"]["mayReadItems"] is False and boxes["Sent"]["totalEmails"] == 0, boxes
r = call("Email/query", {"accountId": eve})
assert r[0] == "Email/query" and len(r[1]["ids"]) == 1 and r[1]["canCalculateChanges"] is False, r
eid = r[1]["ids"][0]
r = call("Email/get", {"accountId": eve, "ids": [eid], "properties": ["subject", "mailboxIds", "blobId"]})
e = r[1]["list"][0]
assert e["subject"] == "shared with bob" and list(e["mailboxIds"]) == [team["id"]], e
# Eve's own query names the email she kept private: bob cannot see it.
private = call("Email/query", {"accountId": eve, "filter": {"subject": "private"}}, EVE)[1]["ids"]
assert len(private) == 1, private
r = call("Email/get", {"accountId": eve, "ids": private})
assert r[1]["list"] == [] and r[1]["notFound"] == private, r
st, _, raw = j.http("GET", "/download/%s/%s/m.eml" % (eve, e["blobId"]))
assert st == 200 and b"shared with bob" in raw, (st, raw[:200])
st, _, raw = j.http("GET", "/download/%s/%s/m.eml" % (eve, private[0]))
assert st == 404, st
# In bob's own account the shared email is no email of his.
r = call("Email/get", {"accountId": "A1", "ids": [eid]})
assert r[1]["notFound"] == [eid], r
r = call("Thread/get", {"accountId": eve, "ids": [call("Email/get", {"accountId": eve, "ids": [eid], "properties": ["threadId"]})[1]["list"][0]["threadId"]]})
assert r[1]["list"][0]["emailIds"] == [eid], r
# Read-only, mail only.
r = call("Email/set", {"accountId": eve, "update": {eid: {"keywords/$seen": True}}})
assert r[0] == "error" and r[1]["type"] == "accountReadOnly", r
r = call("Mailbox/set", {"accountId": eve, "create": {"x": {"name": "Mine"}}})
assert r[0] == "error" and r[1]["type"] == "accountReadOnly", r
r = call("Email/changes", {"accountId": eve, "sinceState": "1"})
assert r[0] == "error" and r[1]["type"] == "cannotCalculateChanges", r
r = call("Identity/get", {"accountId": eve})
assert r[0] == "error" and r[1]["type"] == "accountNotSupportedByMethod", r
r = call("Email/get", {"accountId": "A9", "ids": []})
assert r[0] == "error" and r[1]["type"] == "accountNotFound", r
# Push: a flag set by eve in Team reaches bob's EventSource under eve's id;
# a change of eve's INBOX (not shared) does not.
c = http.client.HTTPConnection("127.0.0.1", int(os.environ["PORT_HTTP"]), timeout=10)
c.request("GET", "/eventsource/?types=Email&closeafter=state&ping=0", headers={"Authorization": j.basic(j.USER, j.PASSWORD)})
resp = c.getresponse()
assert resp.status == 200, resp.status
import time
time.sleep(0.3)
m.select("INBOX")
typ, data = m.search(None, "SUBJECT", "private")
m.store(data[0], "+FLAGS", "(\\Answered)")
m.select("Team")
m.store("1", "+FLAGS", "(\\Flagged)")
body = resp.read().decode()
data = json.loads([l for l in body.splitlines() if l.startswith("data: ")][0][6:])
assert list(data["changed"]) == [eve], data
c.close()
r = call("Email/get", {"accountId": eve, "ids": [eid], "properties": ["keywords"]})
assert r[1]["list"][0]["keywords"] == {"$flagged": True}, r
# Revoked: the account is gone from the session and from every call.
assert m.deleteacl("Team", "bob@localhost")[0] == "OK"
assert m.deleteacl("Sent", "bob@localhost")[0] == "OK"
m.logout()
s = j.session()
assert list(s["accounts"]) == ["A1"] and s["state"] == state0, s
r = call("Email/get", {"accountId": eve, "ids": [eid]})
assert r[0] == "error" and r[1]["type"] == "accountNotFound", r
"##
    );
    assert_success(&python(&t, &script), "shared account");
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
