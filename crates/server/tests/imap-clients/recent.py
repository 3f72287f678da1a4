"""\\Recent (RFC 3501 §2.3.2): a message is recent in exactly one session,
the first to SELECT the mailbox after it arrived or, with the mailbox
selected, the first to notice it. EXAMINE shows it recent without taking
it (§6.3.2); STATUS counts what nobody has taken; SEARCH RECENT/NEW/OLD
follow the flag. An IMAP4rev2 session shows no RECENT and no \\Recent
(RFC 9051 §2.3.2)."""
from common import *

MSG = b"From: a@example.org\r\nTo: bob@localhost\r\nSubject: recent %d\r\n\r\nbody\r\n"


def select(m, readonly=False):
    """SELECT or EXAMINE INBOX; the RECENT count it reported."""
    typ, data = m.select("INBOX", readonly)
    assert typ == "OK", data
    return [int(n) for n in m.untagged_responses.pop("RECENT", [])]


def flags(m, seq):
    typ, data = m.fetch(seq, "(FLAGS)")
    assert typ == "OK", data
    return b" ".join(d for d in data if isinstance(d, bytes))


def search(m, *keys):
    typ, data = m.search(None, *keys)
    assert typ == "OK", data
    return data[0].split()


def status_recent(m):
    typ, data = m.status("INBOX", "(RECENT)")
    assert typ == "OK", data
    return data[0]


def noop(m):
    m.untagged_responses.clear()
    ok(m.noop())
    return {k: list(v) for k, v in m.untagged_responses.items()}


# Two messages arrive while no session has INBOX selected.
dropper = login()
for i in (1, 2):
    ok(dropper.append("INBOX", None, None, MSG % i))
assert status_recent(dropper) == b"INBOX (RECENT 2)", status_recent(dropper)

# EXAMINE sees them recent but takes nothing.
viewer = login()
assert select(viewer, readonly=True) == [2]
assert flags(viewer, "1:2").count(b"\\Recent") == 2, flags(viewer, "1:2")
assert search(viewer, "RECENT") == [b"1", b"2"]
assert status_recent(dropper) == b"INBOX (RECENT 2)", status_recent(dropper)

# The first read-write SELECT takes both; a second session gets none.
phone = login()
assert select(phone) == [2]
assert flags(phone, "1:2").count(b"\\Recent") == 2, flags(phone, "1:2")
assert search(phone, "NEW") == [b"1", b"2"]
assert search(phone, "OLD") == []
laptop = login()
assert select(laptop) == [0]
assert b"\\Recent" not in flags(laptop, "1:2"), flags(laptop, "1:2")
assert search(laptop, "RECENT") == []
assert search(laptop, "OLD") == [b"1", b"2"]
assert status_recent(dropper) == b"INBOX (RECENT 0)", status_recent(dropper)

# New mail while both have INBOX selected: the first to notice takes it.
ok(dropper.append("INBOX", None, None, MSG % 3))
u = noop(phone)
assert u.get("EXISTS") == [b"3"] and u.get("RECENT") == [b"3"], u
u = noop(laptop)
assert u.get("EXISTS") == [b"3"] and "RECENT" not in u, u
assert b"\\Recent" in flags(phone, "3"), flags(phone, "3")
assert b"\\Recent" not in flags(laptop, "3"), flags(laptop, "3")
ok(phone.store("3", "+FLAGS", "(\\Seen)"))
assert search(phone, "NEW") == [b"1", b"2"]
assert search(phone, "RECENT") == [b"1", b"2", b"3"]

# IMAP4rev2: no RECENT response, no \Recent flag.
ok(dropper.append("INBOX", None, None, MSG % 4))
rev2 = login()
ok(rev2.enable("IMAP4rev2"))
assert select(rev2) == []
assert b"\\Recent" not in flags(rev2, "1:4"), flags(rev2, "1:4")

for m in (dropper, viewer, phone, laptop, rev2):
    m.logout()
print("ok")
