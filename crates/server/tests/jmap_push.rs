//! End-to-end tests of JMAP sync and push against the real binary:
//! `/queryChanges`, `Thread/changes` and `maxChanges` splitting (RFC 8620
//! §5.2, §5.6), driven by Python's urllib (through
//! `jmap-clients/jmap_http.py`) and imaplib making the changes.

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
