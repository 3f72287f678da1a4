"""RFC 9585 INPROGRESS with imaplib: SEARCH, UID SEARCH, ESEARCH, SORT and
THREAD over a mailbox of many messages, on a server whose
`[imap] progress_interval` is 0 (progress after every piece). imaplib keeps
the untagged `* OK [INPROGRESS (...)]` responses in `untagged_responses`
under the code's name; every one must name the command's tag, its counts
must grow and never pass the goal, and the goal is the mailbox's size.

Usage: inprogress.py HOST PORT USER PASSWORD MESSAGES MARKED"""
import re

from common import EXTRA, login, ok, run

imaplib_commands = __import__("imaplib").Commands
for _name in ["SORT", "THREAD"]:
    imaplib_commands.setdefault(_name, ("SELECTED",))

TOTAL, MARKED = int(EXTRA[0]), int(EXTRA[1])
PROGRESS = re.compile(rb'^\("([^"]*)" (\d+) (\d+)\)$')


def last_tag(m):
    return (m.tagpre + str(m.tagnum - 1).encode()).decode()


def progress(m, what):
    """The INPROGRESS responses of the command just run: (count, goal) pairs."""
    seen = m.untagged_responses.pop("INPROGRESS", [])
    assert seen, f"{what}: no INPROGRESS response"
    tag = last_tag(m)
    out = []
    for data in seen:
        got = PROGRESS.match(data)
        assert got, f"{what}: INPROGRESS data {data!r}"
        assert got.group(1).decode() == tag, f"{what}: tag {got.group(1)!r}, command {tag}"
        count, goal = int(got.group(2)), int(got.group(3))
        assert goal == TOTAL, f"{what}: goal {goal}, mailbox has {TOTAL}"
        assert count <= goal, f"{what}: count {count} > goal {goal}"
        out.append(count)
    assert out == sorted(out), f"{what}: counts go back: {out}"
    assert len(set(out)) == len(out), f"{what}: a count repeats: {out}"
    return out


m = login()
caps = m.capabilities
assert "INPROGRESS" in caps, caps
typ, data = m.select("INBOX")
assert typ == "OK" and int(data[0]) == TOTAL, data

# A header search loads each message's header: many pieces, many reports.
m.untagged_responses.clear()
data = ok(m.search(None, "HEADER", "X-Marker", "yes"), "SEARCH HEADER")
assert len(data[0].split()) == MARKED, data
counts = progress(m, "SEARCH HEADER")
assert len(counts) >= 3, counts

# UID SEARCH with an envelope key.
m.untagged_responses.clear()
data = ok(m.uid("SEARCH", "SUBJECT", "marked"), "UID SEARCH SUBJECT")
assert len(data[0].split()) == MARKED, data
progress(m, "UID SEARCH SUBJECT")

# ESEARCH (RFC 4731): the result in one ESEARCH, after the progress.
typ, data, untagged = run(m, "SEARCH", "RETURN", "(COUNT)", "HEADER", "X-Marker", "yes")
assert typ == "OK", (typ, data)
assert untagged.get("ESEARCH") and untagged["ESEARCH"][0].endswith(f"COUNT {MARKED}".encode()), untagged
assert "INPROGRESS" in untagged, untagged
m.untagged_responses["INPROGRESS"] = untagged["INPROGRESS"]
progress(m, "SEARCH RETURN (COUNT)")

# SORT and THREAD load every envelope.
m.untagged_responses.clear()
typ, data = m.sort("(REVERSE ARRIVAL)", "UTF-8", "SUBJECT", "marked")
assert typ == "OK" and len(data[0].split()) == MARKED, data
progress(m, "SORT")
m.untagged_responses.clear()
typ, data = m.thread("REFERENCES", "UTF-8", "SUBJECT", "marked")
assert typ == "OK" and data[0].count(b"(") == MARKED, data
progress(m, "THREAD")

# A search on flags alone needs nothing loaded: one piece, one report at
# most after the preparation; still a right answer.
m.untagged_responses.clear()
data = ok(m.search(None, "UNSEEN"), "SEARCH UNSEEN")
assert len(data[0].split()) == TOTAL, len(data[0].split())

m.logout()
print("ok")
