//! End-to-end tests of JMAP `SearchSnippet/get` (RFC 8621 §5.1) against
//! the real binary, driven by Python's urllib (through
//! `jmap-clients/jmap_http.py`).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::Command;

use common::{PASSWORD, Server, Setup, assert_success};

const USER: &str = "bob@localhost";

fn mail(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Ann <ann@example.org>\r\nTo: bob@localhost\r\nSubject: {subject}\r\n\
         Message-ID: <{}@example.org>\r\n\r\n{body}\r\n",
        subject.len() * 7919 + body.len()
    )
    .into_bytes()
}

/// Snippets of an `Email/query` with text, subject and body conditions:
/// matched words are in `<mark>`, the rest HTML-escaped; a match deep in
/// a long body gives an excerpt around it (the index found it); fields
/// without a match are null; unknown ids are `notFound`; a bad filter is
/// refused as `Email/query` refuses it.
#[test]
fn search_snippets_mark_the_matched_words() {
    let t = Server::start(Setup {
        protocols: &["http"],
        users: &[USER, "eve@localhost"],
        ..Setup::default()
    });
    t.deliver(
        USER,
        &mail("Lunch <today> & more", "Shall we have lunch at noon?"),
    );
    let long = format!(
        "{} the hidden needle is here {}",
        "filler ".repeat(200),
        "tail ".repeat(100)
    );
    t.deliver(USER, &mail("Nothing special", &long));
    t.deliver("eve@localhost", &mail("Lunch for eve", "lunch"));
    let o = Command::new("python3")
        .args([
            "-c",
            r##"
import json
import jmap_http as j
acc = j.session()["primaryAccounts"]["urn:ietf:params:jmap:mail"]

def snippets(filter):
    r = j.api([["Email/query", {"accountId": acc, "filter": filter}, "q"],
               ["SearchSnippet/get", {"accountId": acc, "filter": filter,
                                      "#emailIds": {"resultOf": "q", "name": "Email/query", "path": "/ids"}}, "s"]])
    assert r[1][0] == "SearchSnippet/get", r
    return r[1][1]

s = snippets({"text": "lunch"})
assert s["accountId"] == acc and s["notFound"] is None, s
[one] = s["list"]
assert one["subject"] == "<mark>Lunch</mark> &lt;today&gt; &amp; more", one
assert one["preview"] == "Shall we have <mark>lunch</mark> at noon?", one

# subject terms mark only the subject, body terms only the preview.
[one] = snippets({"subject": "lunch"})["list"]
assert one["subject"].startswith("<mark>Lunch</mark>") and one["preview"] is None, one
[one] = snippets({"body": "noon"})["list"]
assert one["subject"] is None and one["preview"].endswith("<mark>noon</mark>?"), one

# Beyond the stored preview: an excerpt around the match.
[deep] = snippets({"body": "needle"})["list"]
p = deep["preview"]
assert "the hidden <mark>needle</mark> is here" in p and p.startswith("…") and p.endswith("…"), p
assert len(p) < 260 and deep["subject"] is None, deep

# Terms under NOT mark nothing; ids not in the account are notFound.
q = j.one(["Email/query", {"accountId": acc}])["ids"]
s = j.one(["SearchSnippet/get", {"accountId": acc, "emailIds": q + ["M999999", "x"],
                                 "filter": {"operator": "NOT", "conditions": [{"text": "zzz"}]}}])
assert s["notFound"] == ["M999999", "x"] and len(s["list"]) == 2, s
assert all(x["subject"] is None and x["preview"] is None for x in s["list"]), s

# Bad arguments: the method's error, as for Email/query.
[(name, e, _)] = j.api([["SearchSnippet/get", {"accountId": acc, "emailIds": q, "filter": {"nonsense": 1}}, "0"]])
assert name == "error" and e["type"] == "unsupportedFilter", e
[(name, e, _)] = j.api([["SearchSnippet/get", {"accountId": acc, "filter": {"text": "a"}}, "0"]])
assert name == "error" and e["type"] == "invalidArguments", e
[(name, e, _)] = j.api([["SearchSnippet/get", {"accountId": "A999", "emailIds": []}, "0"]])
assert name == "error" and e["type"] == "accountNotFound", e
"##,
        ])
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jmap-clients"),
        )
        .env("JMAP_BASE", format!("http://127.0.0.1:{}", t.port("http")))
        .env("JMAP_USER", USER)
        .env("JMAP_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_success(&o, "SearchSnippet/get");
}
