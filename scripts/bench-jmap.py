#!/usr/bin/env python3
"""The JMAP page benchmark of `scripts/bench jmap` (Python's standard
library only, as a plain client would be): on a running Tidings whose
account u0@bench.test holds the seeded mailbox, measure

- page: `Email/query` (INBOX, receivedAt descending, collapseThreads,
  limit 50) with `Email/get` of those 50 by back-reference, the list
  properties a mail client shows, in one request on a kept-alive
  connection;
- imap: the same page over IMAP on one session (`UID SEARCH ALL`, then
  `UID FETCH` of the 50 newest with FLAGS, ENVELOPE, RFC822.SIZE and
  INTERNALDATE);
- changes: `Email/changes` after 10 flag changes made over IMAP, and
  the page again after them, and after a new message;
- push: from sending an IMAP `STORE` to the EventSource's StateChange
  (an upper bound of commit-to-push: it includes the STORE's own trip).

Environment: HTTP_PORT, IMAP_PORT, ROUNDS (100). Prints one line per
measurement: median, 95th percentile and max in milliseconds."""

import base64
import http.client
import imaplib
import json
import os
import statistics
import threading
import time

USER, PASSWORD = "u0@bench.test", "pw"
HTTP_PORT = int(os.environ["HTTP_PORT"])
IMAP_PORT = int(os.environ["IMAP_PORT"])
ROUNDS = int(os.environ.get("ROUNDS", "100"))
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]
LIST_PROPERTIES = ["id", "threadId", "mailboxIds", "keywords", "from", "subject",
                   "receivedAt", "size", "preview", "hasAttachment"]


def report(what, samples):
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(f"{what}: median {statistics.median(samples) * 1000:.1f} ms, "
          f"p95 {p95 * 1000:.1f} ms, max {samples[-1] * 1000:.1f} ms "
          f"({len(samples)} rounds)", flush=True)


class Jmap:
    def __init__(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=60)

    def call(self, calls):
        body = json.dumps({"using": USING, "methodCalls": calls})
        self.conn.request("POST", "/jmap/", body=body, headers={
            "Authorization": AUTH, "Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        assert r.status == 200, (r.status, data[:300])
        return json.loads(data)["methodResponses"]


def main():
    j = Jmap()
    [(_, boxes, _)] = j.call([["Mailbox/query", {"accountId": "A1", "filter": {"role": "inbox"}}, "0"]])
    inbox = boxes["ids"][0]
    page = [
        ["Email/query", {"accountId": "A1", "filter": {"inMailbox": inbox},
                         "sort": [{"property": "receivedAt", "isAscending": False}],
                         "collapseThreads": True, "limit": 50, "calculateTotal": True}, "q"],
        ["Email/get", {"accountId": "A1", "properties": LIST_PROPERTIES,
                       "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"}}, "g"],
    ]
    t = time.perf_counter()
    out = j.call(page)
    first = time.perf_counter() - t
    total = out[0][1]["total"]
    assert len(out[1][1]["list"]) == 50, out[1][1]
    print(f"INBOX: {total} conversations; the first page (which reads the account): "
          f"{first * 1000:.0f} ms", flush=True)
    # The first request loads what the server caches; the rounds after
    # are what a client paging or refreshing meets.
    samples = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        out = j.call(page)
        samples.append(time.perf_counter() - t)
        assert len(out[1][1]["list"]) == 50
    report("jmap page (Email/query + Email/get of 50)", samples)

    im = imaplib.IMAP4("127.0.0.1", IMAP_PORT)
    im.login(USER, PASSWORD)
    im.select("INBOX")
    samples = []
    for _ in range(max(ROUNDS // 5, 10)):
        t = time.perf_counter()
        typ, data = im.uid("SEARCH", "ALL")
        uids = data[0].split()
        last = b",".join(uids[-50:])
        typ, data = im.uid("FETCH", last, "(FLAGS ENVELOPE RFC822.SIZE INTERNALDATE)")
        samples.append(time.perf_counter() - t)
        assert typ == "OK" and len([x for x in data if x != b")"]) == 50, (typ, len(data))
    report("imap page (UID SEARCH ALL + UID FETCH of 50 envelopes)", samples)

    # Email/changes after 10 changes, and the page after them.
    samples = []
    after = []
    uids = im.uid("SEARCH", "ALL")[1][0].split()
    for round_ in range(max(ROUNDS // 5, 10)):
        [(_, got, _)] = j.call([["Email/get", {"accountId": "A1", "ids": []}, "0"]])
        since = got["state"]
        flag = "+FLAGS" if round_ % 2 == 0 else "-FLAGS"
        for uid in uids[-10:]:
            im.uid("STORE", uid, flag, "(\\Flagged)")
        t = time.perf_counter()
        [(name, changes, _)] = j.call([["Email/changes", {"accountId": "A1", "sinceState": since}, "0"]])
        samples.append(time.perf_counter() - t)
        assert name == "Email/changes" and len(changes["updated"]) == 10, changes
        t = time.perf_counter()
        j.call(page)
        after.append(time.perf_counter() - t)
    report("Email/changes after 10 changes", samples)
    report("jmap page right after those 10 flag changes", after)

    # The page after a new message (its results are computed again).
    samples = []
    for round_ in range(max(ROUNDS // 5, 10)):
        msg = (f"From: new@example.net\r\nSubject: arrived {round_}\r\n"
               f"Message-ID: <arrived{round_}@bench>\r\n\r\nhello\r\n").encode()
        assert im.append("INBOX", None, None, msg)[0] == "OK"
        t = time.perf_counter()
        out = j.call(page)
        samples.append(time.perf_counter() - t)
        # Received in the same second as the one before it, maybe: on the
        # first page, not necessarily first.
        assert any(e["subject"] == f"arrived {round_}" for e in out[1][1]["list"]), out[1][1]["list"][:2]
    report("jmap page right after a new message (IMAP APPEND)", samples)

    # Push latency: STORE sent -> StateChange read.
    stream = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=60)
    stream.request("GET", "/eventsource/?types=Email&closeafter=no&ping=0",
                   headers={"Authorization": AUTH})
    resp = stream.getresponse()
    assert resp.status == 200, resp.status
    events = []
    ready = threading.Event()

    def read():
        ready.set()
        while True:
            line = resp.fp.readline()
            if not line:
                return
            if line.startswith(b"data: "):
                events.append(time.perf_counter())

    threading.Thread(target=read, daemon=True).start()
    ready.wait()
    time.sleep(0.5)
    samples = []
    for round_ in range(ROUNDS):
        seen = len(events)
        flag = "+FLAGS" if round_ % 2 == 0 else "-FLAGS"
        t = time.perf_counter()
        im.uid("STORE", uids[-1], flag, "(\\Seen)")
        deadline = time.perf_counter() + 5
        while len(events) == seen and time.perf_counter() < deadline:
            time.sleep(0.0002)
        assert len(events) > seen, "no StateChange within 5 s"
        samples.append(events[seen] - t)
        time.sleep(0.01)
    report("push (IMAP STORE sent -> EventSource StateChange)", samples)
    im.logout()


if __name__ == "__main__":
    main()
