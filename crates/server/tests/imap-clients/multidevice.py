"""Two connections of one user (the multi-device case): what one does
(APPEND, STORE, EXPUNGE, MOVE) the other sees after NOOP as EXISTS,
FETCH FLAGS and EXPUNGE, and while idling (IDLE, RFC 2177) promptly,
without asking; DONE ends IDLE. A FETCH on the second connection does not
report an expunge (RFC 9051 §7.5.1)."""
import re
import socket
import time

from common import *

MSG = b"From: a@example.org\r\nTo: bob@localhost\r\nSubject: sync %d\r\n\r\nbody\r\n"

phone = login()
laptop = login()
for m in (phone, laptop):
    typ, data = m.select("INBOX")
    assert typ == "OK", data
base = int(phone.untagged_responses.get("EXISTS", [b"0"])[-1]) if False else int(data[0])

# APPEND on the phone: the laptop sees EXISTS after NOOP.
ok(phone.append("INBOX", None, None, MSG % 1))
laptop.untagged_responses.clear()
laptop.noop()
assert laptop.untagged_responses.get("EXISTS") == [str(base + 1).encode()], laptop.untagged_responses
n = base + 1

# STORE on the phone: the laptop gets FETCH (FLAGS) after NOOP.
phone.noop()
ok(phone.store(str(n), "+FLAGS", "(\\Seen \\Flagged)"))
laptop.untagged_responses.clear()
laptop.noop()
fetches = laptop.untagged_responses.get("FETCH", [])
assert any(b"\\Flagged" in f and b"\\Seen" in f for f in fetches), laptop.untagged_responses

# EXPUNGE on the phone. A FETCH on the laptop must not carry the EXPUNGE;
# the NOOP after it does.
ok(phone.store(str(n), "+FLAGS", "(\\Deleted)"))
ok(phone.expunge())
laptop.untagged_responses.clear()
typ, data = laptop.fetch(str(n), "(FLAGS)")
assert typ == "OK", data
assert "EXPUNGE" not in laptop.untagged_responses, laptop.untagged_responses
laptop.noop()
assert laptop.untagged_responses.get("EXPUNGE") == [str(n).encode()], laptop.untagged_responses

# IDLE on the laptop: the phone's APPEND, STORE and EXPUNGE arrive unasked.
laptop.send(b"i1 IDLE\r\n")
assert laptop.readline().startswith(b"+ "), "no IDLE continuation"
laptop.sock.settimeout(5)


def idle_line():
    """The next line during IDLE, past `* n RECENT`: which of the two
    sessions notices new mail first (and sees it \Recent) is a race here;
    recent.py tests \Recent."""
    t = time.monotonic()
    while True:
        line = laptop.readline()
        assert line, "connection closed during IDLE"
        if not re.match(rb"\* \d+ RECENT\r\n", line):
            return line.rstrip(b"\r\n"), time.monotonic() - t


ok(phone.append("INBOX", None, None, MSG % 2))
line, took = idle_line()
assert line == b"* %d EXISTS" % n, line
assert took < 1.0, f"EXISTS took {took:.3f}s"
phone.noop()
ok(phone.store(str(n), "+FLAGS", "(\\Answered)"))
line, _ = idle_line()
assert re.match(rb"\* %d FETCH \(FLAGS \(\\Answered( \\Recent)?\)" % n, line), line
ok(phone.store(str(n), "+FLAGS.SILENT", "(\\Deleted)"))
line, _ = idle_line()
assert b"\\Deleted" in line, line
ok(phone.expunge())
line, _ = idle_line()
assert line == b"* %d EXPUNGE" % n, line
# Changes to another mailbox do not wake the idler.
ok(phone.append("Drafts", None, None, MSG % 3))
laptop.send(b"DONE\r\n")
line, _ = idle_line()
assert line.startswith(b"i1 OK"), line
laptop.sock.settimeout(None)

# A second IDLE ended by something else than DONE: BAD.
laptop.send(b"i2 IDLE\r\n")
assert laptop.readline().startswith(b"+ ")
laptop.send(b"NOPE\r\n")
line = laptop.readline()
assert line.startswith(b"i2 BAD"), line
laptop.noop()
phone.logout()
laptop.logout()
print("multidevice ok")
