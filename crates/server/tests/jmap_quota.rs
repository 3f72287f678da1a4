//! End-to-end tests of JMAP quotas (RFC 9425) against the real binary,
//! driven by Python's urllib (through `jmap-clients/jmap_http.py`), with
//! `tidings user quota` setting the limit and deliveries using it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::Command;

use common::{PASSWORD, Server, Setup, assert_success, message};

const USER: &str = "bob@localhost";

/// Runs `script` with the JMAP helper importable; `STATE_FILE` is a
/// file in the server's directory for passing values between scripts.
fn python(t: &Server, what: &str, script: &str) {
    let o = Command::new("python3")
        .args(["-c", script])
        .env("STATE_FILE", t.path("quota-state"))
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jmap-clients"),
        )
        .env("JMAP_BASE", format!("http://127.0.0.1:{}", t.port("http")))
        .env("JMAP_USER", USER)
        .env("JMAP_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_success(&o, what);
}

/// The session names the quota capability; Quota/get shows the limit
/// `tidings user quota` set and the bytes the delivered mail uses;
/// Quota/changes reports it after a delivery; Quota/query filters and
/// sorts; an unlimited account has no Quota; the methods need the
/// capability in `using`.
#[test]
fn quota_get_changes_and_query_follow_the_account_quota() {
    let t = Server::start(Setup {
        protocols: &["http"],
        users: &[USER],
        ..Setup::default()
    });
    t.ok(&["user", "quota", USER, "10M"]);
    t.deliver(USER, &message("one"));
    python(
        &t,
        "Quota before",
        r##"
import os
import jmap_http as j
s = j.session()
QUOTA = "urn:ietf:params:jmap:quota"
acc = s["primaryAccounts"][QUOTA]
assert QUOTA in s["capabilities"] and QUOTA in s["accounts"][acc]["accountCapabilities"], s
USING = ["urn:ietf:params:jmap:core", QUOTA]
def call(name, args):
    [(got, res, _)] = j.api([[name, args, "0"]], using=USING)
    assert got == name, (got, res)
    return res

g = call("Quota/get", {"accountId": acc, "ids": None})
[q] = g["list"]
assert q["hardLimit"] == 10 * 1024 * 1024 and q["resourceType"] == "octets" and q["scope"] == "account", q
assert q["types"] == ["Email"] and j.USER in q["name"], q
assert 0 < q["used"] < 1000, q
assert g["notFound"] == [], g
g2 = call("Quota/get", {"accountId": acc, "ids": [q["id"], "Q9"], "properties": ["used"]})
assert g2["list"] == [{"id": q["id"], "used": q["used"]}] and g2["notFound"] == ["Q9"], g2

# Query: filters and sort.
r = call("Quota/query", {"accountId": acc, "filter": {"resourceType": "octets", "type": "Email"},
                         "sort": [{"property": "used", "isAscending": False}], "calculateTotal": True})
assert r["ids"] == [q["id"]] and r["total"] == 1 and r["canCalculateChanges"] is False, r
assert call("Quota/query", {"accountId": acc, "filter": {"scope": "domain"}})["ids"] == []
[(name, e, _)] = j.api([["Quota/query", {"accountId": acc, "filter": {"size": "1"}}, "0"]], using=USING)
assert name == "error" and e["type"] == "unsupportedFilter", e
[(name, e, _)] = j.api([["Quota/queryChanges", {"accountId": acc, "sinceQueryState": r["queryState"]}, "0"]], using=USING)
assert name == "error" and e["type"] == "cannotCalculateChanges", e
# Without the capability the methods do not exist.
[(name, e, _)] = j.api([["Quota/get", {"accountId": acc}, "0"]])
assert name == "error" and e["type"] == "unknownMethod", e
# Nothing changed: no changes.
c = call("Quota/changes", {"accountId": acc, "sinceState": g["state"]})
assert c["updated"] == [] and c["newState"] == g["state"], c
with open(os.environ["STATE_FILE"], "w") as f:
    f.write(g["state"] + " " + str(q["used"]))
"##,
    );
    t.deliver(USER, &message("two"));
    let saved = std::fs::read_to_string(t.path("quota-state")).unwrap();
    let (state, used) = saved.split_once(' ').unwrap();
    python(
        &t,
        "Quota after a delivery",
        &format!(
            r##"
import jmap_http as j
QUOTA = "urn:ietf:params:jmap:quota"
acc = j.session()["primaryAccounts"][QUOTA]
USING = ["urn:ietf:params:jmap:core", QUOTA]
def call(name, args):
    [(got, res, _)] = j.api([[name, args, "0"]], using=USING)
    assert got == name, (got, res)
    return res
c = call("Quota/changes", {{"accountId": acc, "sinceState": "{state}"}})
assert c["updated"] == ["Q0"] and c["created"] == [] and c["newState"] != "{state}", c
[q] = call("Quota/get", {{"accountId": acc}})["list"]
assert q["used"] > {used}, q
[(name, e, _)] = j.api([["Quota/changes", {{"accountId": acc, "sinceState": "99999999"}}, "0"]], using=USING)
assert name == "error" and e["type"] == "cannotCalculateChanges", e
"##
        ),
    );
    t.ok(&["user", "quota", USER, "none"]);
    python(
        &t,
        "Quota when unlimited",
        r##"
import jmap_http as j
QUOTA = "urn:ietf:params:jmap:quota"
acc = j.session()["primaryAccounts"][QUOTA]
[(name, r, _)] = j.api([["Quota/get", {"accountId": acc}, "0"]], using=["urn:ietf:params:jmap:core", QUOTA])
assert name == "Quota/get" and r["list"] == [], r
"##,
    );
}
