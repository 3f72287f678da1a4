//! End-to-end tests of the HTTP server and JMAP (RFC 8620/8621) against
//! the real binary, driven by clients nobody here wrote: curl, Python's
//! urllib/http.client/xml.etree (through the small RFC-following helper in
//! `jmap-clients/jmap_http.py`), imaplib and smtplib.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{PASSWORD, Server, Setup, assert_success, message};

const USER: &str = "bob@localhost";

fn start(protocols: &[&str]) -> Server {
    Server::start(Setup {
        protocols,
        users: &[USER, "eve@localhost"],
        ..Setup::default()
    })
}

/// Runs a Python script with the JMAP helper importable and the server's
/// ports in its environment (`JMAP_BASE` is `scheme` on its port).
fn python(server: &Server, scheme: &str, script: &str) -> Output {
    let port = server.port(scheme);
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script])
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jmap-clients"),
        )
        .env("JMAP_BASE", format!("{scheme}://127.0.0.1:{port}"))
        .env("JMAP_USER", USER)
        .env("JMAP_PASSWORD", PASSWORD);
    for p in [
        "http",
        "https",
        "imap",
        "imaps",
        "smtp",
        "submission",
        "pop3",
    ] {
        if let Some(port) = server.try_port(p) {
            cmd.env(format!("PORT_{}", p.to_uppercase()), port.to_string());
        }
    }
    cmd.output().unwrap()
}

fn run_python(server: &Server, scheme: &str, what: &str, script: &str) {
    assert_success(&python(server, scheme, script), what);
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

#[test]
fn session_resource_needs_a_password_and_describes_the_api() {
    let t = start(&["http", "https"]);
    let http = format!("http://127.0.0.1:{}/.well-known/jmap", t.port("http"));
    // curl: no credentials, then wrong ones, then right ones.
    let head = curl(&["-i", &http]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{head}"
    );
    let wrong = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-u",
        "bob@localhost:nope",
        &http,
    ]);
    assert_eq!(wrong, "401");
    let body = curl(&["-u", &format!("{USER}:{PASSWORD}"), &http]);
    assert!(body.contains("\"urn:ietf:params:jmap:mail\""), "{body}");
    // Python over HTTPS (the self-signed certificate IMAPS uses).
    run_python(
        &t,
        "https",
        "https session",
        r##"
import jmap_http as j
s = j.session()
assert set(s["capabilities"]) == {"urn:ietf:params:jmap:" + c for c in
    ["core", "mail", "submission", "vacationresponse", "quota", "websocket"]}, s
# Over HTTPS the WebSocket endpoint is wss.
assert s["capabilities"]["urn:ietf:params:jmap:websocket"]["url"] == j.BASE.replace("https", "wss", 1) + "/jmap/ws/", s
core = s["capabilities"]["urn:ietf:params:jmap:core"]
assert core["maxCallsInRequest"] == 16 and core["maxObjectsInGet"] == 500, core
acc = s["primaryAccounts"]["urn:ietf:params:jmap:mail"]
assert s["accounts"][acc]["name"] == "bob@localhost", s
assert s["username"] == "bob@localhost"
assert s["apiUrl"].startswith(j.BASE + "/"), (s["apiUrl"], j.BASE)
assert "{blobId}" in s["downloadUrl"] and "{accountId}" in s["downloadUrl"]
# Another user's password does not open bob's session; eve sees only eve.
st, _, body = j.http("GET", "/.well-known/jmap", auth=("eve@localhost", "wrong"))
assert st == 401, st
import json
st, _, body = j.http("GET", "/.well-known/jmap", auth=("eve@localhost", j.PASSWORD))
eve = json.loads(body)
assert list(eve["accounts"]) != list(s["accounts"]), (eve, s)
"##,
    );
}

#[test]
fn request_errors_are_problem_details_and_method_errors_are_responses() {
    let t = start(&["http"]);
    run_python(
        &t,
        "http",
        "request and method errors",
        r##"
import json, socket, os
import jmap_http as j

def problem(body, kind, limit=None):
    st, h, b = j.post_json(body)
    assert st == 400, (st, b)
    assert h["Content-Type"] == "application/problem+json", h["Content-Type"]
    p = json.loads(b)
    assert p["type"] == "urn:ietf:params:jmap:error:" + kind, p
    assert p["status"] == 400
    if limit:
        assert p["limit"] == limit, p

problem(b"{not json", "notJSON")
problem(b'{"using": [], "methodCalls": 7}', "notRequest")
problem(json.dumps({"using": ["urn:example:nope"], "methodCalls": []}).encode(), "unknownCapability")
calls = [["Core/echo", {}, str(i)] for i in range(17)]
problem(json.dumps({"using": j.USING, "methodCalls": calls}).encode(), "limit", "maxCallsInRequest")

# A body announced larger than maxSizeRequest is refused before it is read.
s = socket.create_connection(("127.0.0.1", int(os.environ["PORT_HTTP"])), timeout=10)
auth = j.basic(j.USER, j.PASSWORD)
s.sendall(("POST /jmap/ HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
           "Content-Type: application/json\r\nContent-Length: 20000000\r\n\r\n{" % auth).encode())
reply = b""
while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
head, _, body = reply.partition(b"\r\n\r\n")
assert head.startswith(b"HTTP/1.1 400"), reply
p = json.loads(body)
assert p["type"] == "urn:ietf:params:jmap:error:limit" and p["limit"] == "maxSizeRequest", p

# Method-level errors come back as responses and the request goes on.
acc = j.session()["primaryAccounts"]["urn:ietf:params:jmap:mail"]
r = j.api([
    ["Core/echo", {"hello": [1, 2]}, "e"],
    ["Nope/get", {}, "u"],
    ["Mailbox/get", {"accountId": acc, "bogus": 1}, "i"],
    ["Mailbox/get", {"accountId": "A999"}, "a"],
    ["Email/get", {"accountId": acc, "ids": ["M1"] * 501}, "l"],
    ["Email/query", {"accountId": acc, "filter": {"frobnicate": 1}}, "f"],
    ["Email/query", {"accountId": acc, "sort": [{"property": "colour"}]}, "s"],
    ["Email/set", {"accountId": acc, "ifInState": "999999", "update": {}}, "m"],
])
got = {cid: (name, args) for name, args, cid in r}
assert got["e"] == ("Core/echo", {"hello": [1, 2]}), got["e"]
assert got["u"][1]["type"] == "unknownMethod", got["u"]
assert got["i"][1]["type"] == "invalidArguments", got["i"]
assert got["a"][1]["type"] == "accountNotFound", got["a"]
assert got["l"][1]["type"] == "requestTooLarge", got["l"]
assert got["f"][1]["type"] == "unsupportedFilter", got["f"]
assert got["s"][1]["type"] == "unsupportedSort", got["s"]
assert got["m"][1]["type"] == "stateMismatch", got["m"]
# Mail methods need the mail capability in `using`.
r = j.api([["Mailbox/get", {"accountId": acc}, "0"]], using=["urn:ietf:params:jmap:core"])
assert r[0][1]["type"] == "unknownMethod", r
# A wrong Content-Type is not JSON (RFC 8620 §3.1).
st, _, b = j.http("POST", "/jmap/", b"{}", headers={"Content-Type": "text/plain"})
assert st == 400 and json.loads(b)["type"].endswith(":notJSON"), (st, b)
"##,
    );
    assert!(t.port("http") > 0);
}

#[test]
fn back_references_chain_query_get_and_thread() {
    let t = start(&["http"]);
    t.deliver(USER, &message("first"));
    t.deliver(
        USER,
        b"From: Ann <ann@example.org>\r\nTo: bob@localhost\r\nSubject: Re: first\r\n\
          Message-ID: <reply@example.org>\r\nIn-Reply-To: <first@example.org>\r\n\
          References: <first@example.org>\r\n\r\nA reply\r\n",
    );
    t.deliver(USER, &message("other"));
    run_python(
        &t,
        "http",
        "back-references",
        r##"
import jmap_http as j
acc = j.session()["primaryAccounts"]["urn:ietf:params:jmap:mail"]
inbox = [m for m in j.one(["Mailbox/get", {"accountId": acc, "ids": None}])["list"] if m["role"] == "inbox"][0]
assert inbox["totalEmails"] == 3 and inbox["totalThreads"] == 2 and inbox["unreadEmails"] == 3, inbox
# Mailbox/query: by role, by having a role, in sortOrder.
r = j.one(["Mailbox/query", {"accountId": acc, "filter": {"role": "inbox"}}])
assert r["ids"] == [inbox["id"]], r
assert j.one(["Mailbox/query", {"accountId": acc, "filter": {"hasAnyRole": False}}])["ids"] == []
r = j.one(["Mailbox/query", {"accountId": acc, "sort": [{"property": "sortOrder"}], "calculateTotal": True}])
assert r["total"] == 8 and r["ids"][0] == inbox["id"], r
# RFC 8620 §3.7's example shape: query, get the thread ids, get the threads,
# get the threads' emails.
r = j.api([
    ["Email/query", {"accountId": acc, "filter": {"inMailbox": inbox["id"]},
                     "sort": [{"property": "receivedAt", "isAscending": False}],
                     "collapseThreads": True, "calculateTotal": True}, "0"],
    ["Email/get", {"accountId": acc, "#ids": {"resultOf": "0", "name": "Email/query", "path": "/ids"},
                   "properties": ["threadId"]}, "1"],
    ["Thread/get", {"accountId": acc, "#ids": {"resultOf": "1", "name": "Email/get", "path": "/list/*/threadId"}}, "2"],
    ["Email/get", {"accountId": acc, "#ids": {"resultOf": "2", "name": "Thread/get", "path": "/list/*/emailIds"},
                   "properties": ["subject"]}, "3"],
    ["Email/get", {"accountId": acc, "#ids": {"resultOf": "0", "name": "Email/get", "path": "/ids"}}, "4"],
    ["Email/get", {"accountId": acc, "#ids": {"resultOf": "0", "name": "Email/query", "path": "/nothing"}}, "5"],
])
q = r[0][1]
assert q["total"] == 2 and len(q["ids"]) == 2, q
threads = r[2][1]["list"]
assert sorted(len(t["emailIds"]) for t in threads) == [1, 2], threads
subjects = sorted(e["subject"] for e in r[3][1]["list"])
assert subjects == ["Re: first", "first", "other"], subjects
assert r[4][0] == "error" and r[4][1]["type"] == "invalidResultReference", r[4]
assert r[5][0] == "error" and r[5][1]["type"] == "invalidResultReference", r[5]
# Paging: position and anchor over the uncollapsed list.
all_ids = j.one(["Email/query", {"accountId": acc}])["ids"]
assert len(all_ids) == 3
page = j.one(["Email/query", {"accountId": acc, "position": 1, "limit": 1}])
assert page["ids"] == all_ids[1:2] and page["position"] == 1, page
page = j.one(["Email/query", {"accountId": acc, "anchor": all_ids[2], "anchorOffset": -1}])
assert page["ids"] == all_ids[1:], page
err = j.api([["Email/query", {"accountId": acc, "anchor": "M999"}, "x"]])[0]
assert err[1]["type"] == "anchorNotFound", err
# Filters: from, subject, text (full-text index), NOT.
def q(f):
    return j.one(["Email/query", {"accountId": acc, "filter": f}])["ids"]
assert len(q({"from": "ann@example"})) == 3
assert len(q({"subject": "other"})) == 1
assert len(q({"text": "reply"})) == 1
assert len(q({"operator": "NOT", "conditions": [{"subject": "first"}]})) == 1
# Responses are gzipped for a client that accepts it (and not for q=0).
import gzip, http.client, json, os
def fetch(accept):
    c = http.client.HTTPConnection("127.0.0.1", int(os.environ["PORT_HTTP"]), timeout=10)
    c.request("POST", "/jmap/", json.dumps({"using": j.USING, "methodCalls": [
        ["Mailbox/get", {"accountId": acc}, "0"]]}),
        {"Authorization": j.basic(j.USER, j.PASSWORD), "Content-Type": "application/json",
         "Accept-Encoding": accept})
    r = c.getresponse()
    return r.getheader("Content-Encoding"), r.read()
enc, body = fetch("br, gzip;q=0.8")
assert enc == "gzip", enc
assert len(json.loads(gzip.decompress(body))["methodResponses"][0][1]["list"]) == 8
enc, body = fetch("gzip;q=0")
assert enc is None and json.loads(body)["methodResponses"], enc
"##,
    );
}

#[test]
fn mail_sent_over_smtp_shows_in_email_query_and_get_and_downloads() {
    let t = start(&["http", "smtp"]);
    run_python(
        &t,
        "http",
        "SMTP then JMAP",
        r##"
import os, smtplib, json
import jmap_http as j
raw = ("From: Carol <carol@example.org>\r\nTo: bob@localhost\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
       "Message-ID: <smtp-1@example.org>\r\nMIME-Version: 1.0\r\n"
       "Date: Thu, 30 Oct 2014 16:12:00 +0200\r\n"
       "List-Unsubscribe: <mailto:leave@example.org>, <https://example.org/leave>\r\n"
       "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
       "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
       "Bonjour =C3=A0 tous\r\n"
       "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=data.bin\r\n"
       "Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b--\r\n")
with smtplib.SMTP("127.0.0.1", int(os.environ["PORT_SMTP"]), timeout=10) as s:
    s.sendmail("carol@example.org", ["bob@localhost"], raw.encode())
acc = j.session()["primaryAccounts"]["urn:ietf:params:jmap:mail"]
ids = j.one(["Email/query", {"accountId": acc, "filter": {"subject": "café"}}])["ids"]
assert len(ids) == 1, ids
e = j.one(["Email/get", {"accountId": acc, "ids": ids, "fetchTextBodyValues": True,
                         "properties": ["subject", "from", "messageId", "keywords", "mailboxIds",
                                        "hasAttachment", "textBody", "attachments", "bodyValues",
                                        "bodyStructure", "preview", "receivedAt", "size", "blobId",
                                        "header:Subject"]}])["list"][0]
assert e["subject"] == "café", e
assert e["from"] == [{"name": "Carol", "email": "carol@example.org"}], e["from"]
assert e["messageId"] == ["smtp-1@example.org"], e["messageId"]
assert e["hasAttachment"] is True
assert e["header:Subject"] == " =?utf-8?q?caf=C3=A9?=", e["header:Subject"]
h = j.one(["Email/get", {"accountId": acc, "ids": ids, "properties": [
    "header:Subject:asText", "header:from:asAddresses", "header:Message-ID:asMessageIds",
    "header:Date:asDate", "header:List-Unsubscribe:asURLs", "header:X-None:all",
    "header:From:asGroupedAddresses"]}])["list"][0]
assert h["header:Subject:asText"] == "café", h
assert h["header:from:asAddresses"] == [{"name": "Carol", "email": "carol@example.org"}], h
assert h["header:Message-ID:asMessageIds"] == ["smtp-1@example.org"], h
assert h["header:Date:asDate"].startswith("2014-10-30T16:12:00"), h
assert h["header:List-Unsubscribe:asURLs"] == ["mailto:leave@example.org", "https://example.org/leave"], h
assert h["header:X-None:all"] == [], h
assert h["header:From:asGroupedAddresses"][0]["addresses"][0]["email"] == "carol@example.org", h
bad = j.api([["Email/get", {"accountId": acc, "ids": ids, "properties": ["header:Subject:asNothing"]}, "0"]])[0]
assert bad[1]["type"] == "invalidArguments", bad
[text] = e["textBody"]
assert e["bodyValues"][text["partId"]]["value"].startswith("Bonjour à tous"), e["bodyValues"]
[att] = e["attachments"]
assert att["name"] == "data.bin" and att["type"] == "application/octet-stream" and att["size"] == 4, att
assert [p["type"] for p in e["bodyStructure"]["subParts"]] == ["text/plain", "application/octet-stream"]
assert e["preview"].startswith("Bonjour"), e["preview"]
assert e["receivedAt"].endswith("Z") and e["size"] > len(raw) - 10
# Download: the whole message, and the attachment decoded.
st, h, body = j.http("GET", "/download/%s/%s/mail.eml" % (acc, e["blobId"]))
assert st == 200 and h["Content-Type"] == "message/rfc822", (st, h)
assert body.endswith(raw.encode()), body
st, h, body = j.http("GET", "/download/%s/%s/data.bin?accept=application/x-test" % (acc, att["blobId"]))
assert st == 200 and body == bytes([0, 1, 2, 3]) and h["Content-Type"] == "application/x-test", (st, h, body)
assert 'filename="data.bin"' in h["Content-Disposition"], h
# Another user cannot download it, nor see it.
st, _, _ = j.http("GET", "/download/%s/%s/x" % (acc, e["blobId"]), auth=("eve@localhost", j.PASSWORD))
assert st == 404, st
st, _, body = j.post_json(json.dumps({"using": j.USING, "methodCalls": [
    ["Email/get", {"accountId": acc, "ids": ids}, "0"]]}).encode(), auth=("eve@localhost", j.PASSWORD))
assert json.loads(body)["methodResponses"][0][1]["type"] == "accountNotFound", body
"##,
    );
}

#[test]
fn keywords_and_mailboxes_set_by_jmap_are_seen_by_imap_and_back() {
    let t = start(&["http", "imap"]);
    t.deliver(USER, &message("shared"));
    run_python(
        &t,
        "http",
        "JMAP and IMAP see one mailbox",
        r##"
import imaplib, os
import jmap_http as j
acc = j.session()["primaryAccounts"]["urn:ietf:params:jmap:mail"]
boxes = {m["role"]: m["id"] for m in j.one(["Mailbox/get", {"accountId": acc}])["list"] if m["role"]}
[eid] = j.one(["Email/query", {"accountId": acc, "filter": {"inMailbox": boxes["inbox"]}}])["ids"]
state0 = j.one(["Email/get", {"accountId": acc, "ids": []}])["state"]

# JMAP sets $seen and a user keyword; IMAP sees \Seen and the keyword.
r = j.one(["Email/set", {"accountId": acc, "ifInState": state0,
                         "update": {eid: {"keywords/$seen": True, "keywords/work": True}}}])
assert eid in r["updated"] and r["oldState"] == state0 and r["newState"] != state0, r
im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
im.login(j.USER, j.PASSWORD)
im.select("INBOX")
typ, data = im.fetch("1", "(FLAGS)")
flags = data[0].decode()
assert "\\Seen" in flags and "work" in flags, flags

# IMAP flags it; JMAP's Email/changes reports it and Email/get shows $flagged.
im.store("1", "+FLAGS", "(\\Flagged)")
ch = j.one(["Email/changes", {"accountId": acc, "sinceState": r["newState"]}])
assert ch["updated"] == [eid] and ch["created"] == [] and ch["destroyed"] == [], ch
kw = j.one(["Email/get", {"accountId": acc, "ids": [eid], "properties": ["keywords"]}])["list"][0]["keywords"]
assert kw == {"$seen": True, "$flagged": True, "work": True}, kw
mc = j.one(["Mailbox/changes", {"accountId": acc, "sinceState": r["newState"]}])
assert boxes["inbox"] in mc["updated"], mc

# JMAP moves it to Archive (mailboxIds replaced): IMAP's INBOX is empty,
# Archive has it; All Mail keeps it (a rule, not a label to drop).
r = j.one(["Email/set", {"accountId": acc, "update": {eid: {"mailboxIds": {boxes["archive"]: True}}}}])
assert eid in r["updated"], r
mb = j.one(["Email/get", {"accountId": acc, "ids": [eid], "properties": ["mailboxIds"]}])["list"][0]["mailboxIds"]
assert boxes["archive"] in mb and boxes["inbox"] not in mb and boxes["all"] in mb, mb
im.noop()
typ, data = im.status("INBOX", "(MESSAGES)")
assert b"MESSAGES 0" in data[0], data
typ, data = im.status("Archive", "(MESSAGES)")
assert b"MESSAGES 1" in data[0], data

# Bad updates change nothing and say why.
r = j.one(["Email/set", {"accountId": acc, "update": {
    eid: {"mailboxIds": {}},
    "M999": {"keywords/$seen": None},
    "x": {"subject": "no"}}}])
assert r["notUpdated"][eid]["type"] == "invalidProperties", r
assert r["notUpdated"]["M999"]["type"] == "notFound", r
assert set(r["notUpdated"]) == {eid, "M999", "x"}, r
r = j.one(["Email/set", {"accountId": acc, "update": {eid: {"subject": "no"}}}])
assert r["notUpdated"][eid]["type"] == "invalidProperties", r

# JMAP destroys it: IMAP sees it gone, JMAP reports it destroyed.
before = j.one(["Email/get", {"accountId": acc, "ids": []}])["state"]
r = j.one(["Email/set", {"accountId": acc, "destroy": [eid, "M999"]}])
assert r["destroyed"] == [eid] and r["notDestroyed"]["M999"]["type"] == "notFound", r
ch = j.one(["Email/changes", {"accountId": acc, "sinceState": before}])
assert ch["destroyed"] == [eid], ch
typ, data = im.status("Archive", "(MESSAGES)")
assert b"MESSAGES 0" in data[0], data
g = j.one(["Email/get", {"accountId": acc, "ids": [eid]}])
assert g["notFound"] == [eid], g
im.logout()
"##,
    );
}

#[test]
fn autoconfig_names_the_ports_that_listen() {
    let t = start(&["http", "imap", "imaps", "submission", "pop3"]);
    run_python(
        &t,
        "http",
        "autoconfig",
        r##"
import os
import xml.etree.ElementTree as ET
import jmap_http as j
for path in ["/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob%40localhost",
             "/mail/config-v1.1.xml?emailaddress=bob%40localhost"]:
    st, h, body = j.http("GET", path, auth=None)
    assert st == 200 and "xml" in h["Content-Type"], (st, h)
    # What Thunderbird reads: emailProvider/incomingServer|outgoingServer.
    root = ET.fromstring(body)
    assert root.tag == "clientConfig"
    provider = root.find("emailProvider")
    assert provider.find("domain").text == "localhost"
    servers = [(s.tag, s.get("type"), int(s.find("port").text), s.find("socketType").text)
               for s in provider if s.tag in ("incomingServer", "outgoingServer")]
    want = {("incomingServer", "imap", int(os.environ["PORT_IMAPS"]), "SSL"),
            ("incomingServer", "imap", int(os.environ["PORT_IMAP"]), "STARTTLS"),
            ("incomingServer", "pop3", int(os.environ["PORT_POP3"]), "STARTTLS"),
            ("outgoingServer", "smtp", int(os.environ["PORT_SUBMISSION"]), "STARTTLS")}
    assert set(servers) == want, servers
    for s in provider.iter("username"):
        assert s.text == "%EMAILADDRESS%"
req = (b'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
       b'<Request><EMailAddress>bob@localhost</EMailAddress><AcceptableResponseSchema>'
       b'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a'
       b'</AcceptableResponseSchema></Request></Autodiscover>')
st, h, body = j.http("POST", "/autodiscover/autodiscover.xml", req, auth=None,
                     headers={"Content-Type": "text/xml"})
assert st == 200, st
ns = {"a": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
root = ET.fromstring(body)
protocols = [(p.find("a:Type", ns).text, int(p.find("a:Port", ns).text), p.find("a:LoginName", ns).text)
             for p in root.iter("{%s}Protocol" % ns["a"])]
assert ("IMAP", int(os.environ["PORT_IMAPS"]), "bob@localhost") in protocols, protocols
assert ("SMTP", int(os.environ["PORT_SUBMISSION"]), "bob@localhost") in protocols, protocols
# Apple's configuration profile, read by Python's plistlib as a device
# reads it: implicit TLS IMAP, STARTTLS submission (no submissions port
# here), the address as login, no password inside; the same identifiers
# at the second download.
import plistlib
st, h, body = j.http("GET", "/mobileconfig?emailaddress=bob%40localhost", auth=None)
assert st == 200 and h["Content-Type"] == "application/x-apple-aspen-config", (st, h)
assert h["Content-Disposition"].startswith("attachment;"), h
profile = plistlib.loads(body)
assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1, profile
[mail] = profile["PayloadContent"]
assert mail["PayloadType"] == "com.apple.mail.managed", mail
assert mail["EmailAccountType"] == "EmailTypeIMAP" and mail["EmailAddress"] == "bob@localhost", mail
assert (mail["IncomingMailServerPortNumber"], mail["IncomingMailServerUseSSL"]) == (int(os.environ["PORT_IMAPS"]), True), mail
assert (mail["OutgoingMailServerPortNumber"], mail["OutgoingMailServerUseSSL"]) == (int(os.environ["PORT_SUBMISSION"]), False), mail
assert mail["IncomingMailServerUsername"] == mail["OutgoingMailServerUsername"] == "bob@localhost", mail
assert not any("Password" in k and k != "OutgoingPasswordSameAsIncomingPassword" for k in mail), mail
again = plistlib.loads(j.http("GET", "/mobileconfig?emailaddress=bob%40localhost", auth=None)[2])
assert again["PayloadUUID"] == profile["PayloadUUID"], (again, profile)
other = plistlib.loads(j.http("GET", "/mobileconfig?emailaddress=eve%40localhost", auth=None)[2])
assert other["PayloadUUID"] != profile["PayloadUUID"], other
st, _, body = j.http("GET", "/mobileconfig", auth=None)
assert st == 400 and b"emailaddress" in body, (st, body)
"##,
    );
}

#[test]
fn http_limits_hold_and_the_server_stays_up() {
    let t = start(&["http"]);
    run_python(
        &t,
        "http",
        "HTTP limits",
        r##"
import http.client, os, json
import jmap_http as j
port = int(os.environ["PORT_HTTP"])
# Headers over the limit: refused (431), not buffered without end.
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.putrequest("GET", "/.well-known/jmap")
for i in range(40):
    c.putheader("X-Filler-%d" % i, "x" * 1000)
c.endheaders()
r = c.getresponse()
assert r.status == 431, r.status
c.close()
# Too many header fields.
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.putrequest("GET", "/")
for i in range(150):
    c.putheader("X-%d" % i, "1")
c.endheaders()
r = c.getresponse()
assert r.status == 431, r.status
c.close()
# Not HTTP at all: 400, and the connection is closed.
import socket
g = socket.create_connection(("127.0.0.1", port), timeout=10)
g.sendall(b"\x16\x03\x01 hello there\r\n\r\n")
reply = g.recv(4096)
assert reply.startswith(b"HTTP/1.1 400"), reply
g.close()
# Unknown paths and wrong methods.
st, _, _ = j.http("GET", "/nope", auth=None)
assert st == 404, st
st, h, _ = j.http("GET", "/jmap/", auth=None)
assert st == 405 and h["Allow"] == "POST", (st, h)
# Still up, with keep-alive: several requests on one connection.
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
for _ in range(3):
    c.request("GET", "/.well-known/jmap", headers={"Authorization": j.basic(j.USER, j.PASSWORD)})
    r = c.getresponse()
    assert r.status == 200
    json.loads(r.read())
c.close()
"##,
    );
}

/// HTTP Basic failures count in the limiter IMAP uses: after them the
/// address is refused over HTTP and IMAP alike, even with a right
/// password, except for credentials that already succeeded from there (an
/// open webmail is not stalled by someone else's guessing).
#[test]
fn failed_http_logins_count_with_imap_logins() {
    let t = Server::start(Setup {
        protocols: &["http", "imap"],
        users: &[USER, "eve@localhost"],
        extra: "[limits]\nmax_login_failures = 3\nlogin_failure_delay = \"50ms\"\n",
        ..Setup::default()
    });
    run_python(
        &t,
        "http",
        "shared login limiter",
        r##"
import imaplib, os
import jmap_http as j
st, _, _ = j.http("GET", "/.well-known/jmap")
assert st == 200, st
for _ in range(3):
    st, _, _ = j.http("GET", "/.well-known/jmap", auth=("eve@localhost", "wrong"))
    assert st == 401, st
# The address is now blocked for every protocol, even with a right password...
st, h, _ = j.http("GET", "/.well-known/jmap", auth=("eve@localhost", j.PASSWORD))
assert st == 429 and int(h["Retry-After"]) > 0, (st, h)
im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
try:
    im.login("eve@localhost", j.PASSWORD)
    raise SystemExit("IMAP login accepted from a blocked address")
except imaplib.IMAP4.error:
    pass
# ... but bob, who logged in from here before, goes on working.
st, _, _ = j.http("GET", "/.well-known/jmap")
assert st == 200, st
"##,
    );
}

/// Plain HTTP on a public address redirects to HTTPS, except autoconfig
/// and ACME; a password is never taken there.
#[test]
fn plain_http_off_loopback_redirects_to_https() {
    if !common::in_private_netns("plain_http_off_loopback_redirects_to_https") {
        return;
    }
    let t = Server::start(Setup {
        protocols: &["http", "https", "imaps"],
        host: common::NETNS_ADDR,
        ..Setup::default()
    });
    let http = format!("http://{}:{}", common::NETNS_ADDR, t.port("http"));
    let https_port = t.port("https");
    let out = curl(&[
        "-i",
        "-u",
        &format!("{USER}:{PASSWORD}"),
        &format!("{http}/.well-known/jmap?x=1"),
    ]);
    assert!(out.starts_with("HTTP/1.1 308"), "{out}");
    let location = format!(
        "location: https://{}:{https_port}/.well-known/jmap?x=1",
        common::NETNS_ADDR
    );
    assert!(out.to_ascii_lowercase().contains(&location), "{out}");
    let xml = curl(&[&format!("{http}/mail/config-v1.1.xml")]);
    assert!(xml.contains("<clientConfig"), "{xml}");
    // Over HTTPS the same request works.
    let body = curl(&[
        "-k",
        "-u",
        &format!("{USER}:{PASSWORD}"),
        &format!(
            "https://{}:{https_port}/.well-known/jmap",
            common::NETNS_ADDR
        ),
    ]);
    assert!(body.contains("\"apiUrl\""), "{body}");
}

/// Without HTTPS there is nowhere to redirect: a password over plain HTTP
/// from another host is refused before it is checked.
#[test]
fn plain_http_password_off_loopback_is_refused() {
    if !common::in_private_netns("plain_http_password_off_loopback_is_refused") {
        return;
    }
    let t = Server::start(Setup {
        protocols: &["http"],
        host: common::NETNS_ADDR,
        ..Setup::default()
    });
    let url = format!(
        "http://{}:{}/.well-known/jmap",
        common::NETNS_ADDR,
        t.port("http")
    );
    let code = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-u",
        &format!("{USER}:{PASSWORD}"),
        &url,
    ]);
    assert_eq!(code, "403");
}

/// Push: an IMAP STORE reaches an open EventSource as a StateChange whose
/// Email state is the one `Email/get` then reports (RFC 8620 §7.3), and
/// `closeafter=state` ends the response after it.
#[test]
fn event_source_pushes_a_state_change_made_over_imap() {
    let t = start(&["http", "imap"]);
    t.deliver(USER, &message("pushed"));
    run_python(
        &t,
        "http",
        "EventSource push",
        r##"
import http.client, imaplib, json, os, time
import jmap_http as j
s = j.session()
acc = s["primaryAccounts"]["urn:ietf:params:jmap:mail"]
assert "{types}" in s["eventSourceUrl"] and "{closeafter}" in s["eventSourceUrl"], s["eventSourceUrl"]

def open_stream(query):
    c = http.client.HTTPConnection("127.0.0.1", int(os.environ["PORT_HTTP"]), timeout=10)
    c.request("GET", "/eventsource/?" + query, headers={"Authorization": j.basic(j.USER, j.PASSWORD)})
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream", (r.status, r.getheaders())
    return c, r

def next_event(r):
    event, data = None, None
    while True:
        line = r.readline().decode()
        assert line, "stream ended"
        line = line.rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and event:
            return event, data

im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
im.login(j.USER, j.PASSWORD)
im.select("INBOX")

c, r = open_stream("types=*&closeafter=no&ping=0")
time.sleep(0.2)
im.store("1", "+FLAGS", "(\\Flagged)")
event, data = next_event(r)
assert event == "state" and data["@type"] == "StateChange", (event, data)
email_state = j.one(["Email/get", {"accountId": acc, "ids": []}])["state"]
assert data["changed"][acc]["Email"] == email_state, (data, email_state)
assert set(data["changed"][acc]) == {"Mailbox", "Email", "Thread"}, data
# A second change, a second event, on the same stream.
im.store("1", "+FLAGS", "(\\Seen)")
event, data = next_event(r)
assert event == "state" and int(data["changed"][acc]["Email"]) > int(email_state), data
c.close()

# closeafter=state: one state event, then the response ends.
c, r = open_stream("types=Email&closeafter=state")
time.sleep(0.2)
im.store("1", "-FLAGS", "(\\Seen)")
event, data = next_event(r)
assert event == "state" and set(data["changed"][acc]) == {"Email"}, data
assert r.read() == b"", "the stream went on after closeafter=state"
c.close()
im.logout()
"##,
    );
}

/// The Python interpreter of the PyPI test clients' virtualenv
/// (`scripts/install-deps` makes it).
fn pyvenv_python() -> std::path::PathBuf {
    common::pyvenv_python("jmapc")
}

/// jmapc (a JMAP client library from PyPI, written against Fastmail) over
/// HTTPS, trusting the server's own certificate: session, back-references,
/// Email/set, Email/changes, Core/echo, and push through its EventSource
/// client.
#[test]
fn jmapc_reads_flags_and_hears_push_over_https() {
    let t = start(&["https"]);
    t.deliver(USER, &message("jmapc"));
    let script = r##"
import os, queue, sys, threading
from jmapc import Client, Comparator, EmailQueryFilterCondition, Ref
from jmapc.methods import (CoreEcho, EmailChanges, EmailGet, EmailQuery, EmailSet,
                           MailboxGet, ThreadGet)
c = Client.create_with_password(host="localhost:" + os.environ["PORT_HTTPS"],
                                user=os.environ["JMAP_USER"], password=os.environ["JMAP_PASSWORD"])
boxes = c.request(MailboxGet(ids=None)).data
inbox = [m for m in boxes if m.role == "inbox"][0]
assert inbox.total_emails == 1 and inbox.unread_emails == 1, inbox
query, get, threads = c.request([
    EmailQuery(filter=EmailQueryFilterCondition(in_mailbox=inbox.id),
               sort=[Comparator(property="receivedAt", is_ascending=False)], collapse_threads=True),
    EmailGet(ids=Ref("/ids"), properties=["id", "subject", "from", "keywords", "threadId", "mailboxIds"]),
    ThreadGet(ids=Ref("/list/*/threadId")),
])
[email] = get.response.data
assert email.subject == "jmapc" and email.mail_from[0].email == "ann@example.org", email
assert threads.response.data[0].email_ids == [email.id], threads
assert c.request(CoreEcho(data={"x": [1]})).data == {"x": [1]}

events = queue.Queue()
def listen():
    for event in c.events:
        events.put(event)
threading.Thread(target=listen, daemon=True).start()
import time
time.sleep(0.5)
r = c.request(EmailSet(update={email.id: {"keywords/$flagged": True}}))
assert r.updated == {email.id: None}, r
# The first event may be the server's catch-up on the delivery above, made
# by another process (`tidings deliver`) and noticed a moment later: a
# StateChange of a state already read (RFC 8620 §7.1 lets a client get
# those). The flag change's own state must come within the 10 s.
deadline = time.monotonic() + 10
while True:
    event = events.get(timeout=max(0.1, deadline - time.monotonic()))
    if event.data.changed[c.account_id].email == r.new_state:
        break
    assert event.data.changed[c.account_id].email == get.response.state, (event, r)
changes = c.request(EmailChanges(since_state=get.response.state))
assert changes.updated == [email.id] and changes.created == [], changes
"##;
    let o = Command::new(pyvenv_python())
        .args(["-c", script])
        .env("PORT_HTTPS", t.port("https").to_string())
        .env("JMAP_USER", USER)
        .env("JMAP_PASSWORD", PASSWORD)
        .env("REQUESTS_CA_BUNDLE", t.path("data/tls/cert.pem"))
        .output()
        .unwrap();
    assert_success(&o, "jmapc");
}

/// Two devices: a keyword and a mailbox change made with JMAP reach an
/// IMAP client in IDLE as untagged replies, at once; eve's ids are never
/// found in bob's account.
#[test]
fn jmap_changes_reach_an_idling_imap_client() {
    let t = start(&["http", "imap"]);
    t.deliver(USER, &message("idle"));
    t.deliver("eve@localhost", &message("eve's own"));
    run_python(
        &t,
        "http",
        "IDLE sees JMAP",
        r##"
import os, socket, time
import jmap_http as j
acc = j.session()["primaryAccounts"]["urn:ietf:params:jmap:mail"]
boxes = {m["role"]: m["id"] for m in j.one(["Mailbox/get", {"accountId": acc}])["list"] if m["role"]}
[eid] = j.one(["Email/query", {"accountId": acc, "filter": {"inMailbox": boxes["inbox"]}}])["ids"]

s = socket.create_connection(("127.0.0.1", int(os.environ["PORT_IMAP"])), timeout=10)
f = s.makefile("rb")
def line():
    l = f.readline().decode()
    assert l, "connection closed"
    return l
def until(tag):
    out = []
    while True:
        l = line()
        out.append(l)
        if l.startswith(tag + " "):
            return out
line()
s.sendall(b'a LOGIN "%s" "%s"\r\n' % (j.USER.encode(), j.PASSWORD.encode()))
assert until("a")[-1].startswith("a OK"), "login"
s.sendall(b"b SELECT INBOX\r\n")
until("b")
s.sendall(b"c IDLE\r\n")
assert line().startswith("+"), "idle"

j.one(["Email/set", {"accountId": acc, "update": {eid: {"keywords/$flagged": True}}}])
l = line()
assert l.startswith("* 1 FETCH") and "\\Flagged" in l, l
# Moved out of INBOX by JMAP: the IDLEing client sees it expunged.
j.one(["Email/set", {"accountId": acc, "update": {eid: {"mailboxIds": {boxes["archive"]: True}}}}])
seen = [line()]
while not any(x.startswith("* 1 EXPUNGE") or x.startswith("* VANISHED") for x in seen):
    seen.append(line())
s.sendall(b"DONE\r\n")
assert until("c")[-1].startswith("c OK")

# Another account's email id is not found in bob's account.
other = [i for i in range(1, 10) if "M%d" % i != eid]
g = j.one(["Email/get", {"accountId": acc, "ids": ["M%d" % i for i in other], "properties": ["id"]}])
assert g["list"] == [] and len(g["notFound"]) == len(other), g
r = j.one(["Email/set", {"accountId": acc, "destroy": ["M%d" % i for i in other]}])
assert r["destroyed"] == [] and len(r["notDestroyed"]) == len(other), r
# ... and eve still has hers.
import json
eve = ("eve@localhost", j.PASSWORD)
st, _, body = j.http("GET", "/.well-known/jmap", auth=eve)
eve_acc = json.loads(body)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
assert eve_acc != acc
st, _, body = j.post_json(json.dumps({"using": j.USING, "methodCalls": [
    ["Email/query", {"accountId": eve_acc}, "0"]]}).encode(), auth=eve)
assert len(json.loads(body)["methodResponses"][0][1]["ids"]) == 1, body
print("all checked")
"##,
    );
}

/// Mailbox/set: create (a child by creation id in the same call), rename,
/// subscribe, destroy, with the refusals of RFC 8621 §2.5; IMAP LIST sees
/// the result.
#[test]
fn mailbox_set_creates_renames_and_destroys_folders_imap_sees() {
    let t = start(&["http", "imap"]);
    t.deliver(USER, &message("folders"));
    run_python(
        &t,
        "http",
        "Mailbox/set",
        r##"
import imaplib, os
import jmap_http as j
acc = j.session()["primaryAccounts"]["urn:ietf:params:jmap:mail"]
im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
im.login(j.USER, j.PASSWORD)
def names():
    typ, data = im.list()
    return {d.decode().rsplit(' "/" ', 1)[1].strip('"') for d in data}

r = j.one(["Mailbox/set", {"accountId": acc, "create": {
    "p": {"name": "Projects", "parentId": None, "isSubscribed": True},
    "c": {"name": "2026", "parentId": "#p"},
    "bad": {"name": "a/b"},
    "role": {"name": "X", "role": "inbox"}}}])
assert set(r["created"]) == {"p", "c"}, r
assert r["notCreated"]["bad"]["type"] == "invalidProperties", r
assert r["notCreated"]["role"]["type"] == "invalidProperties", r
pid, cid = r["created"]["p"]["id"], r["created"]["c"]["id"]
assert {"Projects", "Projects/2026"} <= names(), names()
got = {m["id"]: m for m in j.one(["Mailbox/get", {"accountId": acc, "ids": [pid, cid]}])["list"]}
assert got[cid]["parentId"] == pid and got[cid]["name"] == "2026", got
assert got[pid]["isSubscribed"] is True and got[pid]["myRights"]["mayDelete"] is True, got

# Rename the parent: the child moves with it.
r = j.one(["Mailbox/set", {"accountId": acc, "update": {pid: {"name": "Work"}}}])
assert pid in r["updated"], r
assert {"Work", "Work/2026"} <= names() and "Projects" not in names(), names()

boxes = {m["role"]: m["id"] for m in j.one(["Mailbox/get", {"accountId": acc}])["list"] if m["role"]}
r = j.one(["Mailbox/set", {"accountId": acc,
    "update": {boxes["inbox"]: {"name": "Renamed"}},
    "destroy": [boxes["trash"], pid]}])
assert r["notUpdated"][boxes["inbox"]]["type"] == "forbidden", r
assert r["notDestroyed"][boxes["trash"]]["type"] == "forbidden", r
assert r["notDestroyed"][pid]["type"] == "mailboxHasChild", r

# A folder with mail needs onDestroyRemoveEmails; the email keeps INBOX.
[eid] = j.one(["Email/query", {"accountId": acc}])["ids"]
j.one(["Email/set", {"accountId": acc, "update": {eid: {"mailboxIds/" + cid: True}}}])
r = j.one(["Mailbox/set", {"accountId": acc, "destroy": [cid]}])
assert r["notDestroyed"][cid]["type"] == "mailboxHasEmail", r
r = j.one(["Mailbox/set", {"accountId": acc, "destroy": [cid, pid], "onDestroyRemoveEmails": True}])
assert r["destroyed"] == [cid, pid], r
assert "Work/2026" not in names() and "Work" not in names(), names()
mb = j.one(["Email/get", {"accountId": acc, "ids": [eid], "properties": ["mailboxIds"]}])["list"][0]["mailboxIds"]
assert boxes["inbox"] in mb and cid not in mb, mb

# A creation id from an earlier call of the request, and createdIds back.
import json
st, _, body = j.post_json(json.dumps({"using": j.USING, "createdIds": {}, "methodCalls": [
    ["Mailbox/set", {"accountId": acc, "create": {"x": {"name": "Top"}}}, "0"],
    ["Mailbox/set", {"accountId": acc, "create": {"y": {"name": "Sub", "parentId": "#x"}}}, "1"],
]}).encode())
resp = json.loads(body)
assert set(resp["createdIds"]) == {"x", "y"}, resp
assert "Top/Sub" in names(), names()
im.logout()
"##,
    );
}

#[test]
fn healthz_answers_ok_without_a_login() {
    let server = start(&["http"]);
    let url = format!("http://127.0.0.1:{}/healthz", server.port("http"));
    let out = curl(&["-s", "-w", " %{http_code}", &url]);
    assert_eq!(out, "ok\n 200");
}

#[test]
fn https_speaks_http2_to_clients_that_offer_it() {
    let t = start(&["https"]);
    let base = format!("https://127.0.0.1:{}", t.port("https"));
    let user = format!("{USER}:{PASSWORD}");
    // curl offers h2 by ALPN: the session over HTTP/2, then (`--next`) an
    // API call on the same connection.
    let out = curl(&[
        "-k",
        "--http2",
        "-u",
        &user,
        "-w",
        "\n%{http_version} %{http_code} %{num_connects}\n",
        &format!("{base}/.well-known/jmap"),
        "--next",
        "-k",
        "--http2",
        "-u",
        &user,
        "-w",
        "\n%{http_version} %{http_code} %{num_connects}\n",
        "-H",
        "Content-Type: application/json",
        "--data",
        r#"{"using":["urn:ietf:params:jmap:core"],"methodCalls":[["Core/echo",{"hello":"h2"},"0"]]}"#,
        &format!("{base}/jmap/"),
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"2 200 1"), "{out}");
    assert!(
        lines.contains(&"2 200 0"),
        "second request on the same connection:\n{out}"
    );
    assert!(out.contains("\"apiUrl\""), "{out}");
    assert!(out.contains(r#"["Core/echo",{"hello":"h2"},"0"]"#), "{out}");
    // A client that asks for HTTP/1.1 alone still gets it.
    let out = curl(&[
        "-k",
        "--http1.1",
        "-u",
        &user,
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
        &format!("{base}/.well-known/jmap"),
    ]);
    assert_eq!(out, "1.1 200");
}
