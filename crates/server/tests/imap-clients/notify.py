"""NOTIFY (RFC 5465) and CONTEXT=SEARCH (RFC 5267) with imaplib: one
connection asks for notifications, a second one appends; the first reads
the STATUS (and, for a search kept up to date, the ESEARCH ADDTO) without
sending a command, and nothing after NOTIFY NONE."""
import socket

from common import *

imaplib.Commands["NOTIFY"] = ("AUTH", "SELECTED")
imaplib.Commands["CANCELUPDATE"] = ("SELECTED",)

MESSAGE = b"From: Ann <ann@example.org>\r\nSubject: hello\r\n\r\nHi\r\n"


def unsolicited(m, wait=10.0):
    """The next line the server sends on its own, or None after `wait` s."""
    m.sock.settimeout(wait)
    try:
        return m.readline().rstrip(b"\r\n")
    except socket.timeout:
        return None
    finally:
        m.sock.settimeout(None)


a = login()
b = login()
caps = a.capability()[1][0].split()
for cap in (b"NOTIFY", b"CONTEXT=SEARCH", b"CONTEXT=SORT"):
    assert cap in caps, caps

# The STATUS indicator: a STATUS per mailbox before the OK (§3.1).
typ, data, untagged = run(a, "NOTIFY", "SET STATUS (subtree Drafts (MessageNew MessageExpunge))")
assert typ == "OK", data
assert untagged.get("STATUS") == [b"Drafts (MESSAGES 0 UIDNEXT 1 UIDVALIDITY "
                                  + untagged["STATUS"][0].split(b"UIDVALIDITY ")[1]], untagged

# Another connection appends: a STATUS arrives unasked (§5.1).
ok(b.append("Drafts", None, None, MESSAGE), "APPEND")
line = unsolicited(a)
assert line == b"* STATUS Drafts (MESSAGES 1 UIDNEXT 2 UNSEEN 1)", line

# A search kept up to date (RFC 5267 §4.3): ADDTO at the next command.
ok(a.select("INBOX"), "SELECT")
tag = a._command("UID", "SEARCH", "RETURN (UPDATE ALL) UNSEEN")
typ, data = a._command_complete("UID", tag)
assert typ == "OK", data
ok(b.append("INBOX", None, None, MESSAGE), "APPEND")
a.untagged_responses.clear()
ok(a.noop(), "NOOP")
esearch = a.untagged_responses.get("ESEARCH", [])
assert esearch == [b'(TAG "' + tag + b'") UID ADDTO (0 1)'], a.untagged_responses
ok(run(a, "CANCELUPDATE", '"' + tag.decode() + '"'), "CANCELUPDATE")

# NOTIFY NONE: nothing more.
ok(run(a, "NOTIFY", "NONE"), "NOTIFY NONE")
ok(b.append("Drafts", None, None, MESSAGE), "APPEND")
line = unsolicited(a, 1.5)
assert line is None, line
a.shutdown()  # (a socket that timed out cannot be read again)
b.logout()
