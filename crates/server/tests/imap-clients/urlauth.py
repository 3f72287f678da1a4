"""URLAUTH (RFC 4467) from imaplib, two users: bob authorizes URLs of his
INBOX with GENURLAUTH (user+ann, authuser, submit+bob, with an EXPIRE),
ann fetches them with URLFETCH and uses them in CATENATE (RFC 4469 with
RFC 4467 URLs), getting the bytes FETCH gives. Refused: a URL for someone
else (NIL), a wrong token, an expired URL, a URL after RESETKEY (of the
mailbox or of all), anonymous access, a URL of another user's mailbox in
GENURLAUTH, a rump in URLFETCH, an unknown mechanism. Arguments: HOST
PORT USER PASSWORD OTHER_USER."""
import re

from common import *

for _name in ["GENURLAUTH", "URLFETCH", "RESETKEY"]:
    imaplib.Commands[_name] = ("AUTH", "SELECTED")

OTHER = EXTRA[0]
# RFC 5092 enc-user: the "@" of an address is %-encoded in a URL.
U_USER, U_OTHER = USER.replace("@", "%40"), OTHER.replace("@", "%40")

MESSAGE = (b"From: Bob <bob@localhost>\r\nTo: Ann <ann@localhost>\r\n"
           b"Subject: the draft\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nSi vis pacem, para bellum.\r\n"
           b"--b\r\nContent-Type: text/plain; name=\"x.txt\"\r\n\r\nsecond part\r\n--b--\r\n")


def q(s):
    return '"' + s + '"'


def gen(m, *urls, mech="INTERNAL"):
    args = []
    for u in urls:
        args += [q(u), mech]
    typ, data, untagged = run(m, "GENURLAUTH", *args)
    return typ, data, [x.decode() for x in re.findall(rb'"([^"]*)"', b" ".join(untagged.get("GENURLAUTH", [])))]


def fetch_urls(m, *urls):
    """URLFETCH; returns {url: data or None} from the untagged response."""
    m.untagged_responses.clear()
    tag = m._command("URLFETCH", *[q(u) for u in urls])
    typ, data = m._command_complete("URLFETCH", tag)
    assert typ == "OK", (typ, data)
    out = {}
    items = m.untagged_responses.get("URLFETCH", [])
    m.untagged_responses.clear()
    # imaplib gives (prefix, literal) tuples for literals and bytes for
    # the rest ('"url" NIL' or ' "url" NIL' after a literal).
    pending = None
    for it in items:
        if isinstance(it, tuple):
            head, lit = it
            for u, value in re.findall(rb'"([^"]*)" (NIL|\{\d+\})', head):
                if value == b"NIL":
                    out[u.decode()] = None
                else:
                    out[u.decode()] = lit
        else:
            for u in re.findall(rb'"([^"]*)" NIL', it):
                out[u.decode()] = None
    return out


def catenate_url(m, mailbox, url):
    return run(m, "APPEND", mailbox, b'CATENATE (URL "' + url.encode() + b'")')


bob = login()
caps = bob.capability()[1][0].split()
assert b"URLAUTH" in caps and b"CATENATE" in caps, caps
typ, data = bob.append("INBOX", None, None, MESSAGE)
assert typ == "OK", data
v, uid = map(int, re.search(rb"APPENDUID (\d+) (\d+)", data[0]).groups())
bob.select("INBOX", readonly=True)
typ, data = bob.uid("FETCH", str(uid), "(BODY.PEEK[1] BODY.PEEK[2.MIME])")
part1 = data[0][1]
mime2 = data[1][1]

base = "imap://%s@localhost/INBOX;UIDVALIDITY=%d/;UID=%d" % (U_USER, v, uid)
for_ann = base + "/;SECTION=1;URLAUTH=user+" + U_OTHER
for_all = base + "/;SECTION=2.MIME;URLAUTH=authuser"
for_submit = base + ";URLAUTH=submit+" + U_USER
expired = base + "/;SECTION=1;EXPIRE=2020-01-01T00:00:00Z;URLAUTH=user+" + U_OTHER
later = base + "/;SECTION=1;EXPIRE=2099-01-01T00:00:00Z;URLAUTH=user+" + U_OTHER

typ, data, full = gen(bob, for_ann, for_all, for_submit, expired, later)
assert typ == "OK", (typ, data)
assert len(full) == 5, full
for rump, f in zip([for_ann, for_all, for_submit, expired, later], full):
    assert f.startswith(rump + ":INTERNAL:") and len(f) == len(rump) + 10 + 64, (rump, f)
f_ann, f_all, f_submit, f_expired, f_later = full

# Not for bob: user+ann; bob's own session may use submit+bob and authuser.
got = fetch_urls(bob, f_ann, f_all, f_submit)
assert got == {f_ann: None, f_all: mime2, f_submit: MESSAGE}, got

# Refused by GENURLAUTH: anonymous, another user's mailbox, a relative URL,
# an authorized URL, a mailbox that does not exist, an unknown mechanism.
typ, data, _ = gen(bob, base + ";URLAUTH=anonymous")
assert typ == "NO", (typ, data)
typ, data, _ = gen(bob, "imap://%s@localhost/INBOX/;UID=1;URLAUTH=authuser" % U_OTHER)
assert typ == "NO", (typ, data)
typ, data, _ = gen(bob, "/INBOX/;UID=1;URLAUTH=authuser")
assert typ == "BAD", (typ, data)
typ, data, _ = gen(bob, f_all)
assert typ == "BAD", (typ, data)
typ, data, _ = gen(bob, "imap://%s@localhost/Nowhere/;UID=1;URLAUTH=authuser" % U_USER)
assert typ == "NO", (typ, data)
typ, data, _ = gen(bob, for_all, mech="XSHA")
assert typ == "BAD", (typ, data)

ann = imaplib.IMAP4(HOST, PORT)
ann.login(OTHER, PASSWORD)
wrong = f_ann[:-1] + ("0" if f_ann[-1] != "0" else "1")
got = fetch_urls(ann, f_ann, f_all, f_submit, f_expired, f_later, wrong, for_ann)
assert got == {f_ann: part1, f_all: mime2, f_submit: None, f_expired: None,
               f_later: part1, wrong: None, for_ann: None}, got

# CATENATE with authorized URLs: ann forwards bob's part (RFC 4469 with RFC 4467 URLs).
head = b"Subject: fwd\r\n\r\n"
typ, data, _ = run(ann, "APPEND", "INBOX", b"CATENATE (TEXT {%d+}\r\n%s URL \"%s\")" % (len(head), head, f_ann.encode()))
assert typ == "OK", (typ, data)
ann.select("INBOX", readonly=True)
_, auid = map(int, re.search(rb"APPENDUID (\d+) (\d+)", data[0]).groups())
typ, data = ann.uid("FETCH", str(auid), "(BODY.PEEK[])")
assert data[0][1] == head + part1, data
for bad in [wrong, f_expired, f_submit, for_ann]:
    typ, data, _ = catenate_url(ann, "INBOX", bad)
    assert typ == "NO" and data[0].startswith(b"[BADURL " + bad.encode() + b"]"), (bad, typ, data)

# RESETKEY of the mailbox: every URL of it is invalid; a new one works.
typ, data, _ = run(bob, "RESETKEY", "INBOX", "INTERNAL")
assert typ == "OK" and data[0].startswith(b"[URLMECH INTERNAL]"), (typ, data)
got = fetch_urls(ann, f_ann, f_all)
assert got == {f_ann: None, f_all: None}, got
typ, data, _ = catenate_url(ann, "INBOX", f_ann)
assert typ == "NO" and b"BADURL" in data[0], data
typ, data, full = gen(bob, for_ann)
assert typ == "OK" and full[0] != f_ann, (full, f_ann)
assert fetch_urls(ann, full[0]) == {full[0]: part1}
# RESETKEY of everything; of a mailbox that does not exist; a mechanism
# that is not offered.
typ, data, _ = run(bob, "RESETKEY")
assert typ == "OK", (typ, data)
assert fetch_urls(ann, full[0]) == {full[0]: None}
typ, data, _ = run(bob, "RESETKEY", "Nowhere")
assert typ == "NO", (typ, data)
typ, data, _ = run(bob, "RESETKEY", "INBOX", "XSHA")
assert typ == "NO", (typ, data)
ann.logout()
bob.logout()
print("ok")
