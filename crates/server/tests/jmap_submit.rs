//! End-to-end tests of JMAP Identity, EmailSubmission and VacationResponse
//! (RFC 8621 §§6-8) and of the RFC 3834 vacation responder, against the
//! real binary: Python's urllib speaks JMAP (the helper in
//! `jmap-clients/jmap_http.py`), imaplib puts drafts in and reads what
//! arrived byte for byte, smtplib delivers inbound mail. Submitted mail is
//! delivered to other local accounts of the same server, through the
//! outbound queue (its worker delivers our own domains locally).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{PASSWORD, Server, Setup, assert_success};

const USERS: [&str; 4] = [
    "bob@localhost",
    "eve@localhost",
    "carol@localhost",
    "dan@localhost",
];

fn start(extra: &str) -> Server {
    Server::start(Setup {
        protocols: &["http", "imap", "smtp"],
        users: &USERS,
        extra,
        ..Setup::default()
    })
}

/// Helpers every script starts with: JMAP with the submission and
/// vacation capabilities as any user, IMAP APPEND and byte-exact fetch,
/// and a bounded wait.
const PRELUDE: &str = r##"
import imaplib, json, os, smtplib, time
from jmap_http import post_json, PASSWORD

USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail",
         "urn:ietf:params:jmap:submission", "urn:ietf:params:jmap:vacationresponse"]
IMAP = int(os.environ["PORT_IMAP"])
SMTP = int(os.environ.get("PORT_SMTP", "0"))

def call(name, args, user="bob@localhost"):
    """All responses of one call (an implicit Email/set follows some)."""
    args = dict(args)
    args.setdefault("accountId", ACCOUNTS[user])
    status, _, body = post_json(json.dumps(
        {"using": USING, "methodCalls": [[name, args, "c"]]}).encode(), auth=(user, PASSWORD))
    assert status == 200, (status, body)
    return json.loads(body)["methodResponses"]

def one(name, args, user="bob@localhost"):
    [(got, res, _)] = call(name, args, user)
    assert got == name, (got, res)
    return res

def account_of(user):
    from jmap_http import http
    import base64
    status, _, body = http("GET", "/.well-known/jmap", auth=(user, PASSWORD))
    assert status == 200, body
    return json.loads(body)["primaryAccounts"]["urn:ietf:params:jmap:submission"]

ACCOUNTS = {u: account_of(u) for u in
            ["bob@localhost", "eve@localhost", "carol@localhost", "dan@localhost"]}

def mailboxes(user="bob@localhost"):
    res = one("Mailbox/get", {}, user)
    return {m["role"] or m["name"]: m["id"] for m in res["list"]}

def append(user, mailbox, raw, flags="(\\Draft)"):
    m = imaplib.IMAP4("127.0.0.1", IMAP)
    m.login(user, PASSWORD)
    typ, _ = m.append(mailbox, flags, None, raw)
    assert typ == "OK", typ
    m.logout()

def fetch_all(user, mailbox="INBOX"):
    m = imaplib.IMAP4("127.0.0.1", IMAP)
    m.login(user, PASSWORD)
    m.select(mailbox, readonly=True)
    _, data = m.search(None, "ALL")
    out = []
    for n in data[0].split():
        _, d = m.fetch(n, "(BODY.PEEK[])")
        out.append(d[0][1])
    m.logout()
    return out

def wait(what, pred, seconds=12):
    end = time.time() + seconds
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)

def header_section(raw):
    return raw.split(b"\r\n\r\n", 1)[0]

def draft_id(user="bob@localhost", subject=None):
    boxes = mailboxes(user)
    res = one("Email/query", {"filter": {"inMailbox": boxes["drafts"]}}, user)
    ids = res["ids"]
    if subject is None:
        return ids[0]
    got = one("Email/get", {"ids": ids, "properties": ["subject"]}, user)
    return [e["id"] for e in got["list"] if e["subject"] == subject][0]
"##;

fn python(server: &Server, script: &str) -> Output {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", &format!("{PRELUDE}\n{script}")])
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jmap-clients"),
        )
        .env(
            "JMAP_BASE",
            format!("http://127.0.0.1:{}", server.port("http")),
        )
        .env("JMAP_USER", USERS[0])
        .env("JMAP_PASSWORD", PASSWORD)
        .env("PORT_IMAP", server.port("imap").to_string());
    if let Some(p) = server.try_port("smtp") {
        cmd.env("PORT_SMTP", p.to_string());
    }
    cmd.output().unwrap()
}

fn run(server: &Server, what: &str, script: &str) {
    assert_success(&python(server, script), what);
}

#[test]
fn identities_default_alias_and_forbidden_from() {
    let t = start("");
    t.ok(&["alias", "add", "robert@localhost", "bob@localhost"]);
    run(
        &t,
        "Identity rules",
        r##"
res = one("Identity/get", {})
[default] = res["list"]
assert default["email"] == "bob@localhost" and default["mayDelete"] is False, default
state = res["state"]
# An alias that targets bob: allowed.
res = one("Identity/set", {"create": {
    "a": {"name": "Robert", "email": "robert@localhost", "textSignature": "-- R"},
    "b": {"email": "eve@localhost"},
    "c": {"email": "someone@example.com"},
    "d": {"name": "no email"}}})
assert res["created"]["a"]["mayDelete"] is True, res
alias = res["created"]["a"]["id"]
assert res["notCreated"]["b"]["type"] == "forbiddenFrom", res
assert res["notCreated"]["c"]["type"] == "forbiddenFrom", res
assert res["notCreated"]["d"]["type"] == "invalidProperties", res
# The default identity cannot be deleted; email is immutable.
res = one("Identity/set", {"destroy": [default["id"]],
                           "update": {alias: {"email": "bob@localhost"}}})
assert res["notDestroyed"][default["id"]]["type"] == "forbidden", res
assert res["notUpdated"][alias]["type"] == "invalidProperties", res
res = one("Identity/set", {"update": {default["id"]: {"name": "Bob B"}}})
assert default["id"] in res["updated"], res
ch = one("Identity/changes", {"sinceState": state})
assert ch["created"] == [alias] and ch["updated"] == [default["id"]], ch
got = one("Identity/get", {"ids": [alias, default["id"]]})
by = {i["id"]: i for i in got["list"]}
assert by[alias]["name"] == "Robert" and by[alias]["textSignature"] == "-- R", got
assert by[default["id"]]["name"] == "Bob B", got
# Another account sees only its own.
res = one("Identity/get", {}, "eve@localhost")
assert [i["email"] for i in res["list"]] == ["eve@localhost"], res
# Without the submission capability the methods do not exist.
status, _, body = post_json(json.dumps({"using": ["urn:ietf:params:jmap:core"],
    "methodCalls": [["Identity/get", {"accountId": ACCOUNTS["bob@localhost"]}, "0"]]}).encode())
assert json.loads(body)["methodResponses"][0][1]["type"] == "unknownMethod", body
"##,
    );
}

#[test]
fn a_submission_arrives_signed_without_bcc_and_the_draft_moves_to_sent() {
    let t = start("");
    run(
        &t,
        "submit a draft",
        r##"
raw = (b"From: Bob <bob@localhost>\r\nTo: Eve <eve@localhost>\r\n"
       b"Bcc: carol@localhost\r\nSubject: submitted over JMAP\r\n"
       b"Message-ID: <submit-1@localhost>\r\n\r\nHello Eve.\r\n")
append("bob@localhost", "Drafts", raw)
boxes = mailboxes()
email = draft_id()
res = call("EmailSubmission/set", {
    "create": {"s1": {"identityId": "I0", "emailId": email}},
    "onSuccessUpdateEmail": {"#s1": {
        "mailboxIds/" + boxes["drafts"]: None,
        "mailboxIds/" + boxes["sent"]: True,
        "keywords/$draft": None}}})
assert [r[0] for r in res] == ["EmailSubmission/set", "Email/set"], res
sub = res[0][1]["created"]["s1"]
env = sub["envelope"]
assert env["mailFrom"]["email"] == "bob@localhost", env
assert sorted(a["email"] for a in env["rcptTo"]) == ["carol@localhost", "eve@localhost"], env
assert email in res[1][1]["updated"], res[1]
# The draft is now in Sent, not Drafts, and no longer a draft.
got = one("Email/get", {"ids": [email], "properties": ["mailboxIds", "keywords"]})["list"][0]
assert boxes["sent"] in got["mailboxIds"] and boxes["drafts"] not in got["mailboxIds"], got
assert "$draft" not in got["keywords"], got
# Both recipients get it; neither copy names the Bcc recipient.
for user in ["eve@localhost", "carol@localhost"]:
    [msg] = wait(user + "'s copy", lambda: fetch_all(user))
    head = header_section(msg)
    assert b"\r\nDKIM-Signature:" in b"\r\n" + head, head
    assert b"d=localhost" in head, head
    assert b"bcc:" not in head.lower(), head
    assert b"Subject: submitted over JMAP" in head and msg.endswith(b"Hello Eve.\r\n"), msg
# The submission is listed, final, and queryable.
got = one("EmailSubmission/get", {"ids": [sub["id"]]})["list"][0]
assert got["undoStatus"] == "final" and got["emailId"] == email, got
q = one("EmailSubmission/query", {"filter": {"emailIds": [email]}})
assert q["ids"] == [sub["id"]], q
"##,
    );
}

#[test]
fn a_from_or_envelope_the_account_does_not_own_is_refused() {
    let t = start("");
    run(
        &t,
        "forbidden senders",
        r##"
append("bob@localhost", "Drafts",
       b"From: eve@localhost\r\nTo: carol@localhost\r\nSubject: forged\r\n\r\nx\r\n")
append("bob@localhost", "Drafts",
       b"From: bob@localhost\r\nTo: carol@localhost\r\nSubject: honest\r\n\r\nx\r\n")
forged, honest = draft_id(subject="forged"), draft_id(subject="honest")
res = one("EmailSubmission/set", {"create": {
    "f": {"identityId": "I0", "emailId": forged},
    "m": {"identityId": "I0", "emailId": honest, "envelope": {
        "mailFrom": {"email": "eve@localhost"}, "rcptTo": [{"email": "carol@localhost"}]}},
    "n": {"identityId": "I0", "emailId": honest, "envelope": {
        "mailFrom": {"email": "bob@localhost"}, "rcptTo": []}},
    "i": {"identityId": "I99", "emailId": honest}}})
assert res["notCreated"]["f"]["type"] == "forbiddenFrom", res
assert res["notCreated"]["m"]["type"] == "forbiddenMailFrom", res
assert res["notCreated"]["n"]["type"] == "noRecipients", res
assert res["notCreated"]["i"]["type"] == "invalidProperties", res
assert "created" not in res or not res["created"], res
time.sleep(2)
assert fetch_all("carol@localhost") == [], "nothing was sent"
"##,
    );
}

#[test]
fn a_held_submission_can_be_cancelled_until_it_leaves() {
    let t = start("[smtp]\nmax_delayed_send = \"20s\"\n");
    let out = python(
        &t,
        r##"
s = one("Core/echo", {})  # warm up
sess = json.loads(__import__("jmap_http").http("GET", "/.well-known/jmap")[2])
cap = sess["accounts"][ACCOUNTS["bob@localhost"]]["accountCapabilities"]["urn:ietf:params:jmap:submission"]
assert cap["maxDelayedSend"] == 20, cap
append("bob@localhost", "Drafts",
       b"From: bob@localhost\r\nTo: eve@localhost\r\nSubject: undo me\r\n\r\nx\r\n")
append("bob@localhost", "Drafts",
       b"From: bob@localhost\r\nTo: eve@localhost\r\nSubject: let me go\r\n\r\ny\r\n")
undo, go = draft_id(subject="undo me"), draft_id(subject="let me go")
env = lambda hold: {"mailFrom": {"email": "bob@localhost", "parameters": {"HOLDFOR": hold}},
                    "rcptTo": [{"email": "eve@localhost"}]}
res = one("EmailSubmission/set", {"create": {
    "u": {"identityId": "I0", "emailId": undo, "envelope": env("4")},
    "g": {"identityId": "I0", "emailId": go, "envelope": env("2")},
    "x": {"identityId": "I0", "emailId": go, "envelope": env("60")}}})
assert res["created"]["u"]["undoStatus"] == "pending", res
assert res["notCreated"]["x"]["type"] == "invalidProperties", res
u, g = res["created"]["u"]["id"], res["created"]["g"]["id"]
res = one("EmailSubmission/set", {"update": {u: {"undoStatus": "canceled"}}})
assert u in res["updated"], res
got = one("EmailSubmission/get", {"ids": [u]})["list"][0]
assert got["undoStatus"] == "canceled", got
# The other one leaves once its hold is over; then it cannot be undone.
[msg] = wait("the released message", lambda: fetch_all("eve@localhost"))
assert b"Subject: let me go" in msg, msg
res = one("EmailSubmission/set", {"update": {g: {"undoStatus": "canceled"}}})
assert res["notUpdated"][g]["type"] == "cannotUnsend", res
# Well past the cancelled one's hold: it never arrived.
time.sleep(4)
msgs = fetch_all("eve@localhost")
assert len(msgs) == 1 and b"undo me" not in msgs[0], msgs
print("ok")
"##,
    );
    assert_success(&out, "undo send");
    let queue = t.ok(&["queue", "list"]);
    assert!(
        !queue.contains("eve@localhost"),
        "nothing left queued: {queue}"
    );
}

#[test]
fn vacation_replies_once_per_sender_and_never_to_lists_or_automatic_mail() {
    let t = start("");
    run(
        &t,
        "vacation responder",
        r##"
res = one("VacationResponse/get", {}, "eve@localhost")
assert res["list"] == [{"id": "singleton", "isEnabled": False, "fromDate": None, "toDate": None,
                        "subject": None, "textBody": None, "htmlBody": None}], res
res = one("VacationResponse/set", {"update": {"singleton": {
    "isEnabled": True, "textBody": "Away until Monday.",
    "htmlBody": "<p>Away until <b>Monday</b>.</p>"}},
    "create": {"x": {}}}, "eve@localhost")
assert "singleton" in res["updated"] and res["notCreated"]["x"]["type"] == "singleton", res
assert res["newState"] != res["oldState"], res

def send(sender, extra=b"", to=b"eve@localhost", subject=b"hello", rcpt="eve@localhost",
         msgid=None):
    msgid = msgid or ("<%s@test>" % time.time_ns()).encode()
    raw = (b"From: " + sender.encode() + b"\r\nTo: " + to + b"\r\nSubject: " + subject +
           b"\r\nMessage-ID: " + msgid + b"\r\n" + extra + b"\r\nbody\r\n")
    with smtplib.SMTP("127.0.0.1", SMTP, timeout=10) as s:
        s.sendmail(sender, [rcpt], raw)

send("bob@localhost", subject=b"first", msgid=b"<first@test>")
[reply] = wait("the vacation reply", lambda: fetch_all("bob@localhost"))
head = header_section(reply)
assert b"Auto-Submitted: auto-replied" in head, head
assert b"Subject: Re: first" in head, head
assert b"In-Reply-To: <first@test>" in head and b"References: <first@test>" in head, head
assert b"From: <eve@localhost>" in head and b"To: <bob@localhost>" in head, head
assert b"\r\nDKIM-Signature:" in b"\r\n" + head, head
assert b"multipart/alternative" in head, head
# Once per sender: a second message gets no second reply.
send("bob@localhost", subject=b"second")
# Lists, bulk, automatic mail, Bcc-only: no reply to carol.
send("carol@localhost", extra=b"List-Id: <friends.localhost>\r\n")
send("carol@localhost", extra=b"List-Unsubscribe: <mailto:leave@localhost>\r\n")
send("carol@localhost", extra=b"Precedence: bulk\r\n")
send("carol@localhost", extra=b"Auto-Submitted: auto-generated\r\n")
send("carol@localhost", to=b"dan@localhost")
send("postmaster@localhost")
# The control: a plain message from dan is answered, after all of those.
send("dan@localhost", subject=b"control")
wait("dan's reply", lambda: fetch_all("dan@localhost"))
time.sleep(1)
assert len(fetch_all("bob@localhost")) == 1, "one reply per sender"
assert fetch_all("carol@localhost") == [], "no reply to lists, bulk, automatic or Bcc"
# Eve got all nine.
assert len(fetch_all("eve@localhost")) == 9
"##,
    );
    // The CLI turns it off: no reply to a new sender.
    let out = t.ok(&["user", "vacation", "eve@localhost", "--off"]);
    assert!(out.contains("vacation reply off"), "{out}");
    run(
        &t,
        "vacation off",
        r##"
with smtplib.SMTP("127.0.0.1", SMTP, timeout=10) as s:
    s.sendmail("carol@localhost", ["eve@localhost"],
               b"From: carol@localhost\r\nTo: eve@localhost\r\nSubject: hi\r\n\r\nx\r\n")
res = one("VacationResponse/get", {}, "eve@localhost")
assert res["list"][0]["isEnabled"] is False, res
wait("eve's copy", lambda: len(fetch_all("eve@localhost")) == 10)
time.sleep(2)
assert fetch_all("carol@localhost") == [], "off means off"
"##,
    );
}
