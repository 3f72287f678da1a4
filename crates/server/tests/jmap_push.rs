//! End-to-end tests of JMAP sync and push against the real binary:
//! `/queryChanges`, `Thread/changes` and `maxChanges` splitting (RFC 8620
//! §5.2, §5.6), driven by Python's urllib (through
//! `jmap-clients/jmap_http.py`) and imaplib making the changes; JMAP over
//! WebSocket (RFC 8887) with the `websockets` package from PyPI.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{PASSWORD, Server, Setup, assert_success, message, pyvenv_python};

const USER: &str = "bob@localhost";

fn start(protocols: &[&str]) -> Server {
    Server::start(Setup {
        protocols,
        users: &[USER, "eve@localhost"],
        ..Setup::default()
    })
}

/// Runs a Python script with the JMAP helper importable and the server's
/// ports in its environment (`JMAP_BASE` is plain HTTP).
fn python(server: &Server, script: &str) -> Output {
    let port = server.port("http");
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script])
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jmap-clients"),
        )
        .env("JMAP_BASE", format!("http://127.0.0.1:{port}"))
        .env("JMAP_USER", USER)
        .env("JMAP_PASSWORD", PASSWORD);
    for p in ["http", "imap"] {
        if let Some(port) = server.try_port(p) {
            cmd.env(format!("PORT_{}", p.to_uppercase()), port.to_string());
        }
    }
    cmd.output().unwrap()
}

fn run_python(server: &Server, what: &str, script: &str) {
    assert_success(&python(server, script), what);
}

/// A reply in the thread of `message(parent)`.
fn reply(subject: &str, parent: &str) -> Vec<u8> {
    format!(
        "From: Ann <ann@example.org>\r\nTo: bob@localhost\r\nSubject: Re: {parent}\r\n\
         Message-ID: <{subject}@example.org>\r\nIn-Reply-To: <{parent}@example.org>\r\n\
         References: <{parent}@example.org>\r\n\r\nHello again\r\n"
    )
    .into_bytes()
}

/// The inbox query (receivedAt descending, with and without
/// collapseThreads) and a Mailbox query, cached by a client, are brought
/// up to date by `/queryChanges` after IMAP STORE, MOVE and APPEND and a
/// JMAP destroy: applying `removed` and `added` to the cache gives what a
/// new query gives.
#[test]
fn query_changes_bring_cached_inbox_queries_up_to_date() {
    let t = start(&["http", "imap"]);
    for s in ["one", "two", "three"] {
        t.deliver(USER, &message(s));
    }
    t.deliver(USER, &reply("two-b", "two"));
    run_python(
        &t,
        "queryChanges",
        r##"
import imaplib, os
import jmap_http as j
acc = j.session()["primaryAccounts"]["urn:ietf:params:jmap:mail"]
boxes = {m["role"]: m["id"] for m in j.one(["Mailbox/get", {"accountId": acc}])["list"] if m["role"]}
inbox = boxes["inbox"]

def query(collapse):
    return j.one(["Email/query", {"accountId": acc, "filter": {"inMailbox": inbox},
                  "sort": [{"property": "receivedAt", "isAscending": False}],
                  "collapseThreads": collapse, "calculateTotal": True}])

def changes(state, collapse, **extra):
    args = {"accountId": acc, "filter": {"inMailbox": inbox},
            "sort": [{"property": "receivedAt", "isAscending": False}],
            "collapseThreads": collapse, "sinceQueryState": state, "calculateTotal": True}
    args.update(extra)
    [(name, r, _)] = j.api([["Email/queryChanges", args, "0"]])
    return name, r

def apply(old, qc):
    gone = set(qc["removed"])
    ids = [i for i in old if i not in gone]
    for a in sorted(qc["added"], key=lambda a: a["index"]):
        ids.insert(a["index"], a["id"])
    return ids

cached = {c: query(c) for c in (False, True)}
for c, q in cached.items():
    assert q["canCalculateChanges"] is True, q
assert cached[False]["total"] == 4 and cached[True]["total"] == 3, cached

im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
im.login(j.USER, j.PASSWORD)
im.select("INBOX")
# Nothing changed yet: nothing to do.
name, r = changes(cached[False]["queryState"], False)
assert name == "Email/queryChanges" and r["removed"] == [] and r["added"] == [], r

im.store("1", "+FLAGS", "(\\Flagged)")           # a flag: same place
typ, _ = im.uid("MOVE", im.fetch("2", "(UID)")[1][0].split()[2].rstrip(b")"), "Archive")
assert typ == "OK", typ                            # "two" leaves INBOX
im.append("INBOX", None, None, b"From: c@example.org\r\nSubject: four\r\nMessage-ID: <four@example.org>\r\n\r\nhi\r\n")
ids_now = query(False)["ids"]
victim = [i for i in ids_now if i not in cached[False]["ids"]]
assert len(victim) == 1, (ids_now, cached)
# JMAP destroys the oldest remaining one.
r = j.one(["Email/set", {"accountId": acc, "destroy": [cached[False]["ids"][-1]]}])
assert r["destroyed"] == [cached[False]["ids"][-1]], r

for c in (False, True):
    fresh = query(c)
    name, r = changes(cached[c]["queryState"], c)
    assert name == "Email/queryChanges", r
    assert r["oldQueryState"] == cached[c]["queryState"] and r["newQueryState"] == fresh["queryState"], r
    assert r["total"] == fresh["total"], (r, fresh)
    assert apply(cached[c]["ids"], r) == fresh["ids"], (c, cached[c]["ids"], r, fresh["ids"])
    # Changes since the new state: none.
    name, r2 = changes(fresh["queryState"], c)
    assert r2["removed"] == [] and r2["added"] == [], r2
    # More than maxChanges: tooManyChanges, not a truncated answer.
    name, r3 = changes(cached[c]["queryState"], c, maxChanges=1)
    assert name == "error" and r3["type"] == "tooManyChanges", (name, r3)

# States that cannot be: a future one, a non-number.
for bad in ["999999999", "abc"]:
    name, r = changes(bad, False)
    assert name == "error" and r["type"] == "cannotCalculateChanges", (bad, name, r)

# Mailbox/queryChanges: a folder created and one renamed over IMAP.
mq = j.one(["Mailbox/query", {"accountId": acc, "sort": [{"property": "name"}]}])
assert mq["canCalculateChanges"] is True, mq
im.create("Zeta")
im.create("Alpha")
im.rename("Zeta", "Beta")
fresh = j.one(["Mailbox/query", {"accountId": acc, "sort": [{"property": "name"}]}])
r = j.one(["Mailbox/queryChanges", {"accountId": acc, "sort": [{"property": "name"}],
                                    "sinceQueryState": mq["queryState"], "calculateTotal": True}])
assert r["total"] == len(fresh["ids"]), (r, fresh)
assert apply(mq["ids"], r) == fresh["ids"], (mq["ids"], r, fresh["ids"])
im.logout()
"##,
    );
}

/// `maxChanges` splits `Email/changes`, `Mailbox/changes` and
/// `Thread/changes` at commit boundaries with `hasMoreChanges` and an
/// intermediate state (it used to answer cannotCalculateChanges); the
/// pieces add up to the whole. One commit larger than `maxChanges` cannot
/// be split: cannotCalculateChanges.
#[test]
fn max_changes_splits_changes_at_commit_boundaries() {
    let t = start(&["http", "imap"]);
    for s in ["a", "b", "c", "d"] {
        t.deliver(USER, &message(s));
    }
    t.deliver(USER, &reply("a2", "a"));
    run_python(
        &t,
        "maxChanges",
        r##"
import imaplib, os
import jmap_http as j
acc = j.session()["primaryAccounts"]["urn:ietf:params:jmap:mail"]
state0 = j.one(["Email/get", {"accountId": acc, "ids": []}])["state"]
emails = j.one(["Email/get", {"accountId": acc, "properties": ["threadId"],
                              "ids": j.one(["Email/query", {"accountId": acc}])["ids"]}])["list"]
thread_of = {e["id"]: e["threadId"] for e in emails}

im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
im.login(j.USER, j.PASSWORD)
im.select("INBOX")
for n in ["1", "2", "3", "4"]:                      # four commits, one email each
    im.store(n, "+FLAGS", "(\\Flagged)")

def walk(method, state, max_changes):
    seen, steps = {"created": set(), "updated": set(), "destroyed": set()}, 0
    while True:
        [(name, r, _)] = j.api([[method, {"accountId": acc, "sinceState": state, "maxChanges": max_changes}, "0"]])
        assert name == method, (name, r)
        n = len(r["created"]) + len(r["updated"]) + len(r["destroyed"])
        assert n <= max_changes, r
        for k in seen:
            seen[k] |= set(r[k])
        assert r["oldState"] == state, r
        steps += 1
        if not r["hasMoreChanges"]:
            return seen, steps, r["newState"]
        assert r["newState"] != state, r
        state = r["newState"]

whole = j.one(["Email/changes", {"accountId": acc, "sinceState": state0}])
assert len(whole["updated"]) == 4 and not whole["hasMoreChanges"], whole
seen, steps, end = walk("Email/changes", state0, 1)
assert steps == 4 and seen["updated"] == set(whole["updated"]) and end == whole["newState"], (seen, steps, whole)
seen, steps, end = walk("Email/changes", state0, 2)
assert steps == 2 and seen["updated"] == set(whole["updated"]), (seen, steps)

# One commit touching two emails cannot be cut to one.
s1 = j.one(["Email/get", {"accountId": acc, "ids": []}])["state"]
im.store("1:2", "+FLAGS", "(\\Seen)")
[(name, r, _)] = j.api([["Email/changes", {"accountId": acc, "sinceState": s1, "maxChanges": 1}, "0"]])
assert name == "error" and r["type"] == "cannotCalculateChanges", (name, r)
r = j.one(["Email/changes", {"accountId": acc, "sinceState": s1, "maxChanges": 2}])
assert len(r["updated"]) == 2 and not r["hasMoreChanges"], r

# Mailbox/changes: every flag commit changes the counts of every mailbox,
# the same ones each time, so all commits fit in one response of nboxes;
# one fewer cannot hold even the first commit.
nboxes = len(j.one(["Mailbox/get", {"accountId": acc, "ids": None}])["list"])
seen, steps, _ = walk("Mailbox/changes", state0, nboxes)
assert steps == 1 and len(seen["updated"]) == nboxes, (steps, seen)
[(name, r, _)] = j.api([["Mailbox/changes", {"accountId": acc, "sinceState": state0, "maxChanges": nboxes - 1}, "0"]])
assert name == "error" and r["type"] == "cannotCalculateChanges", r
[(name, r, _)] = j.api([["Mailbox/changes", {"accountId": acc, "sinceState": state0, "maxChanges": 0}, "0"]])
assert name == "error" and r["type"] == "invalidArguments", r

# Thread/changes: flags change no thread; an expunge and an append do.
s2 = j.one(["Email/get", {"accountId": acc, "ids": []}])["state"]
r = j.one(["Thread/changes", {"accountId": acc, "sinceState": state0}])
assert r["created"] == [] and r["updated"] == [] and r["destroyed"] == [], r
# Destroy "b" (a thread of its own) and the reply in "a"'s thread (an
# IMAP expunge from INBOX would leave them in All Mail).
subjects = j.one(["Email/get", {"accountId": acc, "ids": list(thread_of), "properties": ["subject"]}])["list"]
gone = [e["id"] for e in subjects if e["subject"] in ("b", "Re: a")]
assert len(gone) == 2 and j.one(["Email/set", {"accountId": acc, "destroy": gone}])["destroyed"] == gone
im.append("INBOX", None, None, b"From: c@example.org\r\nSubject: new\r\nMessage-ID: <new@example.org>\r\n\r\nhi\r\n")
all_mail = j.one(["Email/query", {"accountId": acc}])["ids"]
r = j.one(["Thread/changes", {"accountId": acc, "sinceState": s2}])
ids = j.one(["Email/get", {"accountId": acc, "ids": all_mail, "properties": ["threadId", "subject"]}])["list"]
by_subject = {e["subject"]: e["threadId"] for e in ids}
assert set(r["updated"]) == {by_subject["a"], by_subject["new"]}, (r, by_subject)
assert r["destroyed"] == [thread_of[[e["id"] for e in subjects if e["subject"] == "b"][0]]], (r, thread_of)
# The destroy (two threads) and the append (one) are two commits.
seen, steps, _ = walk("Thread/changes", s2, 2)
assert steps == 2 and seen["updated"] == set(r["updated"]) and seen["destroyed"] == set(r["destroyed"]), (seen, r)
im.logout()
"##,
    );
}

/// Runs `script` under the virtualenv's Python (the `websockets` client
/// from PyPI) with the JMAP helper importable.
fn run_websockets(server: &Server, what: &str, script: &str) {
    let mut cmd = Command::new(pyvenv_python("websockets"));
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
    if let Some(port) = server.try_port("imap") {
        cmd.env("PORT_IMAP", port.to_string());
    }
    assert_success(&cmd.output().unwrap(), what);
}

/// JMAP over WebSocket (RFC 8887) with the `websockets` client from PyPI:
/// the session names the endpoint, Requests get Responses with their id,
/// push carries a StateChange for an IMAP STORE that Email/queryChanges
/// then reports, pushState catches up, push can be switched off, and bad
/// messages get RequestError objects on a connection that stays usable.
#[test]
fn websocket_requests_and_push_of_an_imap_store() {
    let t = start(&["http", "imap"]);
    t.deliver(USER, &message("ws"));
    run_websockets(
        &t,
        "JMAP over WebSocket",
        r##"
import imaplib, json, os
from websockets.sync.client import connect
from websockets.exceptions import InvalidStatus, ConnectionClosed
import jmap_http as j

s = j.session()
acc = s["primaryAccounts"]["urn:ietf:params:jmap:mail"]
cap = s["capabilities"]["urn:ietf:params:jmap:websocket"]
assert cap["supportsPush"] is True and cap["url"] == j.BASE.replace("http", "ws", 1) + "/jmap/ws/", cap
AUTH = {"Authorization": j.basic(j.USER, j.PASSWORD)}
USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]

def ws():
    return connect(cap["url"], subprotocols=["jmap"], additional_headers=AUTH, open_timeout=10)

def request(c, calls, id=None):
    msg = {"@type": "Request", "using": USING, "methodCalls": calls}
    if id:
        msg["id"] = id
    c.send(json.dumps(msg))
    return json.loads(c.recv(timeout=10))

# The handshake needs the password and the jmap subprotocol.
for kwargs, status in [({"subprotocols": ["jmap"]}, 401),
                       ({"additional_headers": AUTH}, 400),
                       ({"subprotocols": ["jmap"], "additional_headers": {"Authorization": j.basic(j.USER, "nope")}}, 401)]:
    try:
        connect(cap["url"], open_timeout=10, **kwargs)
        raise AssertionError(f"connected with {kwargs}")
    except InvalidStatus as e:
        assert e.response.status_code == status, (kwargs, e.response.status_code)

c = ws()
assert c.subprotocol == "jmap", c.subprotocol
r = request(c, [["Mailbox/get", {"accountId": acc, "ids": None}, "m"]], id="r1")
assert r["@type"] == "Response" and r["requestId"] == "r1", r
boxes = {m["role"]: m["id"] for m in r["methodResponses"][0][1]["list"] if m["role"]}
q = request(c, [["Email/query", {"accountId": acc, "filter": {"inMailbox": boxes["inbox"]},
                                 "sort": [{"property": "receivedAt", "isAscending": False}]}, "q"]])
assert "requestId" not in q, q
q = q["methodResponses"][0][1]
[eid] = q["ids"]

# Push on; IMAP sets a flag; the StateChange arrives with the new state.
c.send(json.dumps({"@type": "WebSocketPushEnable", "dataTypes": None}))
im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
im.login(j.USER, j.PASSWORD)
im.select("INBOX")
im.store("1", "+FLAGS", "(\\Flagged)")
change = json.loads(c.recv(timeout=10))
assert change["@type"] == "StateChange", change
state = j.one(["Email/get", {"accountId": acc, "ids": []}])["state"]
assert change["changed"][acc] == {"Mailbox": state, "Email": state, "Thread": state}, (change, state)
assert change["pushState"] == state, change
# … and Email/queryChanges over the same socket names the email.
r = request(c, [["Email/queryChanges", {"accountId": acc, "filter": {"inMailbox": boxes["inbox"]},
                                        "sort": [{"property": "receivedAt", "isAscending": False}],
                                        "sinceQueryState": q["queryState"]}, "qc"]], id="r2")
qc = r["methodResponses"][0][1]
assert r["requestId"] == "r2" and qc["removed"] == [eid] and qc["added"] == [{"id": eid, "index": 0}], r
assert qc["newQueryState"] == state, (qc, state)

# Only the types asked for; pushState older than now: a StateChange at once.
c.send(json.dumps({"@type": "WebSocketPushEnable", "dataTypes": ["Email"], "pushState": q["queryState"]}))
change = json.loads(c.recv(timeout=10))
assert change["@type"] == "StateChange" and change["changed"][acc] == {"Email": state}, change

# Push off: a change sends nothing; the next message is the echo's response.
c.send(json.dumps({"@type": "WebSocketPushDisable"}))
im.store("1", "+FLAGS", "(\\Seen)")
r = request(c, [["Core/echo", {"x": 1}, "e"]], id="r3")
assert r["@type"] == "Response" and r["requestId"] == "r3", r

# Bad messages: RequestError objects; the connection goes on.
c.send("{not json")
e = json.loads(c.recv(timeout=10))
assert e["@type"] == "RequestError" and e["type"] == "urn:ietf:params:jmap:error:notJSON", e
c.send(b"\x00\x01binary")
e = json.loads(c.recv(timeout=10))
assert e["@type"] == "RequestError" and e["type"] == "urn:ietf:params:jmap:error:notJSON", e
c.send(json.dumps({"@type": "Nonsense", "id": "r4"}))
e = json.loads(c.recv(timeout=10))
assert e["type"] == "urn:ietf:params:jmap:error:notRequest" and e["requestId"] == "r4", e
c.send(json.dumps({"@type": "Request", "id": "r5", "using": ["urn:x"], "methodCalls": []}))
e = json.loads(c.recv(timeout=10))
assert e["type"] == "urn:ietf:params:jmap:error:unknownCapability" and e["requestId"] == "r5", e
r = request(c, [["Core/echo", {"still": "here"}, "e"]])
assert r["methodResponses"][0][1] == {"still": "here"}, r

# A message larger than maxSizeRequest (10 MB) closes with 1009, unread.
c.send("x" * 10_000_001)
try:
    c.recv(timeout=10)
    raise AssertionError("an oversized message was answered")
except ConnectionClosed as e:
    assert e.rcvd is not None and e.rcvd.code == 1009, e
# The server is still there.
c = ws()
r = request(c, [["Core/echo", {"after": 1}, "e"]])
assert r["methodResponses"][0][1] == {"after": 1}, r
c.close()
im.logout()
"##,
    );
}

/// A WebSocket keeps its connection permit: with three connections per
/// address allowed, three open WebSockets leave no room for a fourth
/// connection, and closing one makes room.
#[test]
fn websockets_count_against_the_per_address_connection_limit() {
    let t = Server::start(Setup {
        protocols: &["http"],
        users: &[USER],
        extra: "[limits]\nmax_connections_per_ip = 3\n",
        ..Setup::default()
    });
    run_websockets(
        &t,
        "WebSocket connection limit",
        r##"
import json, time
from websockets.sync.client import connect
import jmap_http as j
AUTH = {"Authorization": j.basic(j.USER, j.PASSWORD)}
url = j.BASE.replace("http", "ws", 1) + "/jmap/ws/"
socks = [connect(url, subprotocols=["jmap"], additional_headers=AUTH, open_timeout=10) for _ in range(3)]
for c in socks:
    c.send(json.dumps({"@type": "Request", "using": ["urn:ietf:params:jmap:core"], "methodCalls": [["Core/echo", {}, "0"]]}))
    assert json.loads(c.recv(timeout=10))["@type"] == "Response"
try:
    st, _, _ = j.http("GET", "/healthz", auth=None)
    raise AssertionError(f"a fourth connection was served: {st}")
except AssertionError:
    raise
except Exception:
    pass
socks[0].close()
for _ in range(100):
    try:
        st, _, _ = j.http("GET", "/healthz", auth=None)
        break
    except Exception:
        time.sleep(0.05)
assert st == 200, st
"##,
    );
}

/// PushSubscription (RFC 8620 §7.2) with a local HTTP server (Python's
/// http.server) as the push endpoint: creating one POSTs a
/// PushVerification; nothing else is pushed until the client sets the
/// code back; then an IMAP STORE POSTs a StateChange with the types
/// asked for; `url` and `keys` are never returned; bad URLs, keys, a
/// wrong code and immutable properties are refused; another account
/// sees none of it; a destroyed or expired subscription gets nothing
/// more.
#[test]
fn push_subscription_verification_and_state_change_posts() {
    let t = Server::start(Setup {
        protocols: &["http", "imap"],
        users: &[USER, "eve@localhost"],
        extra: "[jmap]\npush_http_loopback = true\n",
        ..Setup::default()
    });
    t.deliver(USER, &message("push"));
    run_python(
        &t,
        "PushSubscription",
        r##"
import imaplib, json, os, queue, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import jmap_http as j

got = queue.Queue()
class Endpoint(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        got.put((self.path, self.headers, json.loads(body)))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
threading.Thread(target=srv.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{srv.server_port}/push/phone?k=1"

def nothing_more(wait=1.5):
    try:
        raise AssertionError(f"unexpected push: {got.get(timeout=wait)}")
    except queue.Empty:
        pass

acc = j.session()["primaryAccounts"]["urn:ietf:params:jmap:mail"]
CORE = ["urn:ietf:params:jmap:core"]
def call(name, args):
    [(got_name, res, _)] = j.api([[name, args, "0"]], using=CORE)
    assert got_name == name, (got_name, res)
    return res

# Refused: a non-loopback http URL, https with user info, keys, no url,
# a server-set property; nothing is pushed for them.
r = call("PushSubscription/set", {"create": {
    "a": {"deviceClientId": "d", "url": "http://push.example.org/x"},
    "b": {"deviceClientId": "d", "url": "https://u:p@push.example.org/x"},
    "c": {"deviceClientId": "d", "url": url, "keys": {"p256dh": "x", "auth": "y"}},
    "d": {"deviceClientId": "d"},
    "e": {"deviceClientId": "d", "url": url, "verificationCode": "x"}}})
assert set(r["notCreated"]) == {"a", "b", "c", "d", "e"}, r
assert all(e["type"] == "invalidProperties" for e in r["notCreated"].values()), r
assert r["notCreated"]["c"]["properties"] == ["keys"], r
assert "accountId" not in r and "newState" not in r, r
nothing_more(0.5)

r = call("PushSubscription/set", {"create": {"s": {
    "deviceClientId": "phone-1", "url": url, "types": ["Email"], "expires": "2999-01-01T00:00:00Z"}}})
created = r["created"]["s"]
sid = created["id"]
# expires is cut to at most 7 days from now.
assert created["expires"] < "2999", created
path, headers, body = got.get(timeout=10)
assert path == "/push/phone?k=1", path
assert headers["Content-Type"].startswith("application/json") and headers["TTL"], dict(headers)
assert body == {"@type": "PushVerification", "pushSubscriptionId": sid,
                "verificationCode": body["verificationCode"]}, body
code = body["verificationCode"]
assert len(code) >= 16, code

# Not verified: a change pushes nothing.
im = imaplib.IMAP4("127.0.0.1", int(os.environ["PORT_IMAP"]))
im.login(j.USER, j.PASSWORD)
im.select("INBOX")
im.store("1", "+FLAGS", "(\\Flagged)")
nothing_more()

# get: no url or keys, asking for them is forbidden; verificationCode
# is null until verified.
r = call("PushSubscription/get", {"ids": None})
assert r["list"] == [{"id": sid, "deviceClientId": "phone-1", "verificationCode": None,
                      "expires": created["expires"], "types": ["Email"]}], r
assert "state" not in r and "accountId" not in r, r
[(name, err, _)] = j.api([["PushSubscription/get", {"properties": ["url"]}, "0"]], using=CORE)
assert name == "error" and err["type"] == "forbidden", err
# Another account does not see it, nor can it destroy it.
def as_eve(name, args):
    status, _, raw = j.post_json(json.dumps({"using": CORE, "methodCalls": [[name, args, "0"]]}).encode(),
                                 auth=("eve@localhost", j.PASSWORD))
    assert status == 200, (status, raw)
    return json.loads(raw)["methodResponses"][0][1]
assert as_eve("PushSubscription/get", {"ids": [sid]}) == {"list": [], "notFound": [sid]}
assert as_eve("PushSubscription/set", {"destroy": [sid]})["notDestroyed"][sid]["type"] == "notFound"

# A wrong code and an immutable url are refused; the right code verifies.
r = call("PushSubscription/set", {"update": {sid: {"verificationCode": "nope"}}})
assert r["notUpdated"][sid]["type"] == "invalidProperties", r
r = call("PushSubscription/set", {"update": {sid: {"url": url + "x"}}})
assert r["notUpdated"][sid]["type"] == "invalidProperties", r
r = call("PushSubscription/set", {"update": {sid: {"verificationCode": code}}})
assert sid in r["updated"], r
assert call("PushSubscription/get", {"ids": [sid]})["list"][0]["verificationCode"] == code

# Verified: an IMAP STORE POSTs a StateChange with the Email state.
im.store("1", "+FLAGS", "(\\Seen)")
path, headers, body = got.get(timeout=10)
state = j.one(["Email/get", {"accountId": acc, "ids": []}])["state"]
assert body == {"@type": "StateChange", "changed": {acc: {"Email": state}}}, (body, state)
nothing_more(0.5)

# Destroyed: nothing more.
r = call("PushSubscription/set", {"destroy": [sid, "P999"]})
assert r["destroyed"] == [sid] and r["notDestroyed"]["P999"]["type"] == "notFound", r
im.store("1", "-FLAGS", "(\\Seen)")
nothing_more()
assert call("PushSubscription/get", {})["list"] == []

# Expiry: a verified subscription that expires in 3 s is pushed to
# until then, and then neither pushed to nor shown.
import datetime, time
soon = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
r = call("PushSubscription/set", {"create": {"s": {"deviceClientId": "phone-2", "url": url, "expires": soon}}})
sid2 = r["created"]["s"]["id"]
assert r["created"]["s"]["expires"] == soon, r
_, _, body = got.get(timeout=10)
assert body["pushSubscriptionId"] == sid2 and sid2 != sid, body
call("PushSubscription/set", {"update": {sid2: {"verificationCode": body["verificationCode"]}}})
time.sleep(3.5)
im.store("1", "+FLAGS", "(\\Seen)")
nothing_more()
assert call("PushSubscription/get", {"ids": [sid2]})["notFound"] == [sid2]
r = call("PushSubscription/set", {"create": {"p": {"deviceClientId": "d", "url": url, "expires": "2000-01-01T00:00:00Z"}}})
assert r["notCreated"]["p"]["properties"] == ["expires"], r
im.logout()
"##,
    );
}
