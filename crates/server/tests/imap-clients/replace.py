"""REPLACE and UID REPLACE (RFC 8508): a draft is replaced, the new UID is
announced in an untagged OK [APPENDUID] before the old message's EXPUNGE
(or VANISHED with QRESYNC), the flags and date given are kept, the old one
is gone; a replace that fails (no such mailbox, over quota, unknown UID,
read-only mailbox) keeps the old message. The account's quota is 3M (set
by the test), so a 1.2 MB replacement passes (and is spooled) and a 2.5 MB
one does not."""
import re

from common import *

imaplib.Commands["REPLACE"] = ("SELECTED",)


def draft(version, body=b"some words"):
    return (b"From: Bob <bob@localhost>\r\nTo: ann@example.org\r\n"
            b"Subject: draft v%d\r\nMessage-ID: <d%d@localhost>\r\n\r\n%s\r\n"
            % (version, version, body))


def replace(m, number, mailbox, flags, date, message, uid=False):
    m.literal = message
    if uid:
        return run(m, "UID", "REPLACE", str(number), mailbox, flags, date)
    return run(m, "REPLACE", str(number), mailbox, flags, date)


def subjects(m):
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK", data
    out = {}
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
            out[uid] = (item[1].strip(), item[0])
    return out


m = login()
caps = m.capability()[1][0].split()
assert b"REPLACE" in caps, caps

typ, data = m.append("Drafts", "(\\Draft)", None, draft(1))
assert typ == "OK", data
uidvalidity, uid1 = map(int, re.search(rb"APPENDUID (\d+) (\d+)", data[0]).groups())
typ, data = m.select("Drafts")
assert typ == "OK" and data == [b"1"], data

# REPLACE 1: APPENDUID untagged, then the EXPUNGE of message 1, then EXISTS.
typ, data, untagged = replace(m, 1, "Drafts", "(\\Draft \\Seen $Later)",
                              '"03-Mar-2026 10:00:00 +0000"', draft(2))
assert typ == "OK", (typ, data)
assert untagged.get("EXPUNGE") == [b"1"], untagged
au = untagged.get("APPENDUID")
assert au and len(au) == 1, untagged
v, uid2 = map(int, au[0].split())
assert v == uidvalidity and uid2 > uid1, (au, uidvalidity, uid1)
assert untagged.get("EXISTS") == [b"1"], untagged
now = subjects(m)
assert list(now) == [uid2], now
assert now[uid2][0] == b"Subject: draft v2", now
assert b"\\Draft" in now[uid2][1] and b"\\Seen" in now[uid2][1] and b"$Later" in now[uid2][1], now
assert b'" 3-Mar-2026 10:00:00 +0000"' in now[uid2][1], now

# UID REPLACE into another mailbox: the old one leaves Drafts, the new is in Sent.
typ, data, untagged = replace(m, uid2, "Sent", None, None, draft(3), uid=True)
assert typ == "OK", (typ, data)
assert untagged.get("EXPUNGE") == [b"1"], untagged
assert "EXISTS" not in untagged, untagged
assert subjects(m) == {}, subjects(m)
typ, data = m.status("Sent", "(MESSAGES)")
assert b"MESSAGES 1" in data[0], data

# Failures keep the old message.
typ, data = m.append("Drafts", None, None, draft(4))
assert typ == "OK", data
uid4 = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
ok(m.noop())
typ, data, untagged = replace(m, 1, "NoSuchBox", None, None, draft(5))
assert typ == "NO" and b"TRYCREATE" in data[0], (typ, data)
assert "EXPUNGE" not in untagged and "APPENDUID" not in untagged, untagged
typ, data, untagged = replace(m, 999, "Drafts", None, None, draft(5), uid=True)
assert typ == "NO", (typ, data)
typ, data, untagged = replace(m, 2, "Drafts", None, None, draft(5))
assert typ == "BAD", (typ, data)
typ, data, untagged = replace(m, 1, "Drafts", None, None, b"")
assert typ == "NO", (typ, data)
assert list(subjects(m)) == [uid4], subjects(m)

# A large replacement (spooled on arrival) within the quota.
big = draft(6, b"x" * (1200 * 1024))
typ, data, untagged = replace(m, uid4, "Drafts", None, None, big, uid=True)
assert typ == "OK", (typ, data)
uid6 = int(untagged["APPENDUID"][0].split()[1])
assert untagged.get("EXPUNGE") == [b"1"], untagged
typ, data = m.uid("FETCH", str(uid6), "(RFC822.SIZE)")
assert b"RFC822.SIZE %d" % len(big) in data[0], data

# Over quota: NO [OVERQUOTA], the old message (and only it) stays.
huge = draft(7, b"y" * (2500 * 1024))
typ, data, untagged = replace(m, 1, "Drafts", None, None, huge)
assert typ == "NO" and b"OVERQUOTA" in data[0], (typ, data)
assert "EXPUNGE" not in untagged and "APPENDUID" not in untagged, untagged
assert list(subjects(m)) == [uid6], subjects(m)

# QRESYNC: VANISHED instead of EXPUNGE.
ok(m.close())
typ, data = m._simple_command("ENABLE", "QRESYNC")
assert typ == "OK", data
typ, data = m.select("Drafts")
assert typ == "OK", data
typ, data, untagged = replace(m, uid6, "Drafts", None, None, draft(8), uid=True)
assert typ == "OK", (typ, data)
assert untagged.get("VANISHED") == [b"%d" % uid6], untagged
assert "EXPUNGE" not in untagged, untagged

# Read-only: NO, nothing changes.
typ, data = m.select("Drafts", readonly=True)
assert typ == "OK", data
before = subjects(m)
typ, data, untagged = replace(m, 1, "Drafts", None, None, draft(9))
assert typ == "NO", (typ, data)
assert subjects(m) == before, (subjects(m), before)
m.logout()
print("replace ok")
