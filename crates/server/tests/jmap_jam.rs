//! JMAP against a second real client nobody here wrote: npm's `jmap-jam`
//! (MIT) under Node, with an app password as its bearer token. It reads
//! the session, queries and fetches with a result reference, sets a
//! keyword and follows it with `Email/changes` and `Email/queryChanges`,
//! asks for search snippets and the quota, downloads a blob, and sees a
//! method error as a rejected promise.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Server, Setup, assert_success, message};

const USER: &str = "bob@localhost";

/// Where `scripts/install-deps` put jmap-jam (`TIDINGS_NODE_DIR`
/// overrides it); fails the test if it or Node is missing.
fn jam_dir() -> PathBuf {
    let dir = std::env::var_os("TIDINGS_NODE_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/tidings/node")
        },
        PathBuf::from,
    );
    assert!(
        dir.join("node_modules/jmap-jam/package.json").exists(),
        "jmap-jam is not installed in {}: run scripts/install-deps",
        dir.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is not installed: run scripts/install-deps"
    );
    dir
}

#[test]
fn jmap_jam_reads_changes_and_searches_with_a_bearer_token() {
    let dir = jam_dir();
    let t = Server::start(Setup {
        protocols: &["http"],
        users: &[USER],
        ..Setup::default()
    });
    t.ok(&["user", "quota", USER, "10M"]);
    t.deliver(USER, &message("jam one"));
    t.deliver(USER, &message("jam two"));
    let token = t.ok(&["user", "token", "add", USER, "jam"]);
    let o = Command::new("node")
        .args(["--input-type=module", "-e", SCRIPT])
        .env("JAM_DIR", &dir)
        .env(
            "SESSION_URL",
            format!("http://127.0.0.1:{}/.well-known/jmap", t.port("http")),
        )
        .env("TOKEN", token.trim())
        .env("JMAP_USER", USER)
        .output()
        .unwrap();
    assert_success(&o, "jmap-jam under Node");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("jmap-jam: all checks passed"), "{out}");
}

const SCRIPT: &str = r#"
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
const lib = pathToFileURL(process.env.JAM_DIR + "/node_modules/jmap-jam/dist/index.js").href;
const { default: JamClient } = await import(lib);

const jam = new JamClient({ sessionUrl: process.env.SESSION_URL, bearerToken: process.env.TOKEN });
const session = await jam.session;
assert.equal(session.username, process.env.JMAP_USER);
const accountId = await jam.getPrimaryAccount();
assert.ok(accountId);

const [boxes] = await jam.api.Mailbox.get({ accountId });
const inbox = boxes.list.find((m) => m.role === "inbox");
assert.equal(inbox.totalEmails, 2);

const sort = [{ property: "receivedAt", isAscending: false }];
const filter = { inMailbox: inbox.id };
const [{ query, emails }] = await jam.requestMany((t) => {
  const query = t.Email.query({ accountId, filter, sort });
  const emails = t.Email.get({ accountId, ids: query.$ref("/ids"), properties: ["subject", "keywords", "threadId"] });
  return { query, emails };
});
// Delivered in the same second: either order.
assert.deepEqual(emails.list.map((e) => e.subject).sort(), ["jam one", "jam two"]);
const one = emails.list.find((e) => e.subject === "jam one");
const two = emails.list.find((e) => e.subject === "jam two");

// A keyword set through jam shows in /changes and /queryChanges.
const [set] = await jam.api.Email.set({ accountId, update: { [one.id]: { "keywords/$flagged": true } } });
assert.ok(one.id in set.updated, JSON.stringify(set));
const [changes] = await jam.api.Email.changes({ accountId, sinceState: emails.state });
assert.deepEqual(changes.updated, [one.id]);
assert.deepEqual(changes.created, []);
const [qc] = await jam.api.Email.queryChanges({ accountId, filter, sort, sinceQueryState: query.queryState });
assert.deepEqual(qc.removed, [one.id]);
assert.deepEqual(qc.added, [{ id: one.id, index: query.ids.indexOf(one.id) }]);
const [threads] = await jam.api.Thread.changes({ accountId, sinceState: emails.state });
assert.deepEqual(threads.created, []);

// Search snippets.
const [snippets] = await jam.api.SearchSnippet.get({ accountId, filter: { text: "two" }, emailIds: [two.id, one.id] });
assert.equal(snippets.list[0].subject, "jam <mark>two</mark>");
assert.equal(snippets.list[1].subject, null);

// The quota, with its capability added to `using`.
const [quota] = await jam.request(["Quota/get", { accountId }], { using: ["urn:ietf:params:jmap:quota"] });
assert.equal(quota.list[0].hardLimit, 10 * 1024 * 1024);
assert.ok(quota.list[0].used > 0);

// A blob download.
const blob = await jam.downloadBlob({ accountId, blobId: two.id, mimeType: "message/rfc822", fileName: "two.eml" });
assert.match(await blob.text(), /Subject: jam two/);

// A method error rejects the promise with the error object.
await assert.rejects(jam.request(["Email/nonsense", { accountId }]), (e) => e.type === "unknownMethod");
console.log("jmap-jam: all checks passed");
"#;
