"""CATENATE (RFC 4469) from imaplib: a forward is composed in Drafts from
new text and the parts of a message in INBOX, named by IMAP URLs
(RFC 5092: absolute-path, relative to the selected mailbox, absolute
imap://user@host/), with sections and partials; the result is exactly the
bytes FETCH gives for those sections. A URL that cannot be used (another
user's mailbox, a stale UIDVALIDITY, no such message or section, another
server, not a URL, URLAUTH without URLAUTH) gets NO [BADURL url] and
nothing is stored, in MULTIAPPEND neither.

imaplib sends one literal, at the end of a command; TEXT parts go inside
the list as LITERAL+ literals ({n+}), which imaplib passes through as
bytes. Arguments: HOST PORT USER PASSWORD OTHER_USER."""
import re

from common import *

OTHER = EXTRA[0]
# RFC 5092 enc-user: the "@" of an address is %-encoded in a URL.
U_USER, U_OTHER = USER.replace("@", "%40"), OTHER.replace("@", "%40")

ORIGINAL = (b"From: Ann <ann@example.org>\r\n"
            b"To: Bob <bob@localhost>\r\n"
            b"Subject: the plans\r\n"
            b"Message-ID: <plans@example.org>\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
            b"\r\n"
            b"--b1\r\n"
            b"Content-Type: text/plain; charset=us-ascii\r\n"
            b"\r\n"
            b"Here are the plans.\r\n"
            b"--b1\r\n"
            b"Content-Type: application/octet-stream; name=\"plans.bin\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"\r\n"
            b"AAECAwQFBgcICQ==\r\n"
            b"--b1--\r\n")


def text(data):
    """A TEXT part as a non-synchronizing literal."""
    return b"TEXT {%d+}\r\n%s" % (len(data), data)


def url(u):
    return b'URL "' + u.encode() + b'"'


def catenate(m, mailbox, *parts, flags=None):
    args = [mailbox]
    if flags:
        args.append(flags)
    args.append(b"CATENATE (" + b" ".join(parts) + b")")
    return run(m, "APPEND", *args)


def fetch(m, uid, item):
    typ, data = m.uid("FETCH", str(uid), "(%s)" % item)
    assert typ == "OK", data
    return data[0][1]


def count(m, mailbox):
    typ, data = m.status(mailbox, "(MESSAGES)")
    assert typ == "OK", data
    return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))


m = login()
caps = m.capability()[1][0].split()
assert b"CATENATE" in caps, caps

typ, data = m.append("INBOX", None, None, ORIGINAL)
assert typ == "OK", data
v, uid = map(int, re.search(rb"APPENDUID (\d+) (\d+)", data[0]).groups())
m.select("INBOX", readonly=True)
mime1 = fetch(m, uid, "BODY.PEEK[1.MIME]")
part1 = fetch(m, uid, "BODY.PEEK[1]")
mime2 = fetch(m, uid, "BODY.PEEK[2.MIME]")
part2 = fetch(m, uid, "BODY.PEEK[2]")
subject = fetch(m, uid, "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
assert subject == b"Subject: the plans\r\n\r\n", subject

# 1. A forward: new header and text, the original's parts by URL
#    (RFC 4469 Appendix A's absolute-path form with UIDVALIDITY).
head = (b"From: Bob <bob@localhost>\r\nTo: Carol <carol@example.org>\r\n"
        b"Subject: Fwd: the plans\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"fw\"\r\n\r\n"
        b"--fw\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n--fw\r\n")
base = "/INBOX;UIDVALIDITY=%d/;UID=%d" % (v, uid)
typ, data, _ = catenate(
    m, "Drafts",
    text(head),
    url(base + "/;SECTION=1.MIME"), url(base + "/;SECTION=1"),
    text(b"\r\n--fw\r\n"),
    url(base + "/;section=2.mime"), url(base + "/;section=2"),
    text(b"\r\n--fw--\r\n"),
    flags="(\\Draft $Forwarded)")
assert typ == "OK", (typ, data)
dv, duid = map(int, re.search(rb"APPENDUID (\d+) (\d+)", data[0]).groups())
expected = head + mime1 + part1 + b"\r\n--fw\r\n" + mime2 + part2 + b"\r\n--fw--\r\n"
m.select("Drafts", readonly=True)
stored = fetch(m, duid, "BODY.PEEK[]")
assert stored == expected, (stored, expected)
typ, data = m.uid("FETCH", str(duid), "(FLAGS)")
assert b"\\Draft" in data[0] and b"$Forwarded" in data[0], data
# The new message parses like any other: its second part is the text.
assert fetch(m, duid, "BODY.PEEK[2]") == part1, fetch(m, duid, "BODY.PEEK[2]")

# 2. Relative to the selected mailbox (;UID=), a partial, an absolute URL
#    naming this server and user, HEADER.FIELDS; the whole message.
m.select("INBOX", readonly=True)
typ, data, _ = catenate(
    m, "Drafts",
    url("imap://%s@localhost/INBOX/;UID=%d/;SECTION=HEADER.FIELDS%%20(SUBJECT)" % (U_USER, uid)),
    url(";UID=%d/;SECTION=1/;PARTIAL=5.3" % uid),
    text(b"\r\n"),
    url(";UID=%d/;PARTIAL=0.4" % uid))
assert typ == "OK", (typ, data)
_, uid2 = map(int, re.search(rb"APPENDUID (\d+) (\d+)", data[0]).groups())
m.select("Drafts", readonly=True)
stored = fetch(m, uid2, "BODY.PEEK[]")
assert stored == subject + part1[5:8] + b"\r\n" + ORIGINAL[:4], stored
typ, data, _ = catenate(m, "Drafts", url("/INBOX/;UID=%d" % uid))
assert typ == "OK", (typ, data)
_, uid3 = map(int, re.search(rb"APPENDUID (\d+) (\d+)", data[0]).groups())
assert fetch(m, uid3, "BODY.PEEK[]") == ORIGINAL

# 3. URLs that cannot be used: NO [BADURL url], nothing stored.
drafts = count(m, "Drafts")
other = "imap://%s@localhost/INBOX/;UID=1" % U_OTHER
bad = [
    other,                                                  # another user's mailbox
    "/INBOX;UIDVALIDITY=%d/;UID=%d" % (v + 1, uid),         # stale UIDVALIDITY
    "/INBOX/;UID=%d" % (uid + 100),                         # no such message
    "/INBOX/;UID=%d/;SECTION=9" % uid,                      # no such section
    "/Nowhere/;UID=1",                                      # no such mailbox
    "imap://%s@mail.example.net/INBOX/;UID=%d" % (U_USER, uid),  # another server
    "not a url",
    "/INBOX/;UID=%d;URLAUTH=authuser" % uid,                # a URLAUTH rump
]
m.unselect()
for u in bad:
    typ, data, _ = catenate(m, "Drafts", text(b"Subject: x\r\n\r\n"), url(u))
    assert typ == "NO", (u, typ, data)
    assert data[0].startswith(b"[BADURL " + u.encode() + b"]"), (u, data)
# Relative to the selected mailbox with none selected.
typ, data, _ = catenate(m, "Drafts", url(";UID=%d" % uid))
assert typ == "NO" and data[0].startswith(b"[BADURL ;UID="), data
# MULTIAPPEND (RFC 3502): one good message, one bad URL: none stored.
good = b"Subject: fine\r\n\r\nfine\r\n"
typ, data, _ = run(m, "APPEND", "Drafts", b"{%d+}\r\n%s" % (len(good), good),
                   b"CATENATE (" + url(bad[1]) + b")")
assert typ == "NO" and b"BADURL" in data[0], data
assert count(m, "Drafts") == drafts, (count(m, "Drafts"), drafts)

# 4. Syntax: no parts, an unknown part: BAD; a UTF8 part before ENABLE.
typ, data, _ = run(m, "APPEND", "Drafts", b"CATENATE ()")
assert typ == "BAD", data
typ, data, _ = run(m, "APPEND", "Drafts", b"CATENATE (HTML {1+}\r\nx)")
assert typ == "BAD", data
typ, data, _ = run(m, "APPEND", "Drafts", b"CATENATE (UTF8 (~{10+}\r\nSubject: x))")
assert typ == "BAD", data
assert count(m, "Drafts") == drafts

# 5. MULTIAPPEND (RFC 3502) of a CATENATE message and a plain one, and
#    after ENABLE UTF8=ACCEPT a UTF8 part (RFC 6855 §4) and a literal8
#    TEXT part (RFC 3516): both stored, in order.
typ, data = m.enable("UTF8=ACCEPT")
assert typ == "OK", data
subj = "Subject: caf\u00e9\r\n\r\n".encode()
plain = b"Subject: plain\r\n\r\nplain\r\n"
typ, data, _ = run(
    m, "APPEND", "Drafts",
    b"CATENATE (UTF8 (~{%d+}\r\n%s) TEXT ~{6+}\r\nbody\r\n URL \"/INBOX/;UID=%d/;SECTION=2\")"
    % (len(subj), subj, uid),
    b"{%d+}\r\n%s" % (len(plain), plain))
assert typ == "OK", (typ, data)
v2, uids = re.search(rb"APPENDUID (\d+) (\S+)\]", data[0]).groups()
first, last = map(int, uids.split(b":"))
assert last == first + 1, uids
m.select("Drafts", readonly=True)
assert fetch(m, first, "BODY.PEEK[]") == subj + b"body\r\n" + part2
assert fetch(m, last, "BODY.PEEK[]") == plain

m.logout()

# The other user cannot read bob's mail by URL either.
o = imaplib.IMAP4(HOST, PORT)
o.login(OTHER, PASSWORD)
typ, data, _ = catenate(o, "INBOX", url("imap://%s@localhost/INBOX/;UID=%d" % (U_USER, uid)))
assert typ == "NO" and b"BADURL" in data[0], data
typ, data, _ = catenate(o, "INBOX", url("/INBOX/;UID=%d" % uid))  # their own INBOX: empty
assert typ == "NO" and b"BADURL" in data[0], data
o.logout()
print("ok")
