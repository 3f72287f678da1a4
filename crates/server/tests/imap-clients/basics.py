"""Not-authenticated and authenticated state: greeting, CAPABILITY, LOGIN,
AUTHENTICATE PLAIN (with and without SASL-IR), ID, ENABLE, NAMESPACE, LIST
(basic and extended), LSUB, CREATE (+USE), RENAME, DELETE, SUBSCRIBE,
STATUS, wrong-state commands, malformed commands, LOGOUT."""
import base64
import imaplib
import re

from common import *

m = connect()
assert m.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1 "), m.welcome
assert b"AUTH=PLAIN" in m.welcome and b"LOGINDISABLED" not in m.welcome, m.welcome
caps = ok(m.capability())[0].split()
for c in [b"IMAP4rev2", b"IDLE", b"UIDPLUS", b"MOVE", b"CONDSTORE", b"QRESYNC", b"SPECIAL-USE", b"LIST-STATUS", b"ESEARCH", b"SEARCHRES", b"AUTH=LOGIN", b"SORT", b"SORT=DISPLAY", b"THREAD=ORDEREDSUBJECT", b"THREAD=REFERENCES", b"MULTIAPPEND", b"UTF8=ACCEPT", b"BINARY", b"COMPRESS=DEFLATE", b"X-GM-EXT-1", b"WITHIN", b"SAVEDATE", b"QUOTA", b"APPENDLIMIT=52428800"]:
    assert c in caps, (c, caps)
# Wrong state: SELECT before login.
lines = raw_line(m, b"w1 SELECT INBOX")
assert lines[-1].startswith(b"w1 BAD") and b"not allowed" in lines[-1], lines
# A bad password: NO [AUTHENTICATIONFAILED], the session goes on.
try:
    m.login(USER, "wrong")
    raise AssertionError("bad password accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
# Malformed command: tagged BAD, the session goes on.
lines = raw_line(m, b"x1 LOGIN")
assert lines[-1].startswith(b"x1 BAD"), lines
lines = raw_line(m, b"x2 FROBNICATE")
assert lines[-1].startswith(b"x2 BAD"), lines
# AUTHENTICATE PLAIN with an initial response (SASL-IR).
ir = base64.b64encode(b"\0" + USER.encode() + b"\0" + PASSWORD.encode())
lines = raw_line(m, b"a1 AUTHENTICATE PLAIN " + ir)
assert lines[-1].startswith(b"a1 OK [CAPABILITY"), lines
assert b"AUTH=PLAIN" not in lines[-1], lines
# Already authenticated: LOGIN is a wrong-state command.
lines = raw_line(m, b"a2 LOGIN a b")
assert lines[-1].startswith(b"a2 BAD"), lines
m.logout()

# AUTHENTICATE PLAIN through a continuation (imaplib's authenticate).
m = connect()
typ, data = m.authenticate("PLAIN", lambda _: b"\0" + USER.encode() + b"\0" + PASSWORD.encode())
assert typ == "OK", data

m.logout()

# AUTHENTICATE LOGIN: "Username:", "Password:" challenges.
m = connect()
m.send(b"a3 AUTHENTICATE LOGIN\r\n")
assert m.readline() == b"+ " + base64.b64encode(b"Username:") + b"\r\n"
m.send(base64.b64encode(USER.encode()) + b"\r\n")
assert m.readline() == b"+ " + base64.b64encode(b"Password:") + b"\r\n"
m.send(base64.b64encode(PASSWORD.encode()) + b"\r\n")
line = m.readline()
assert line.startswith(b"a3 OK"), line
# A cancelled exchange is BAD.
m2 = connect()
m2.send(b"a4 AUTHENTICATE PLAIN\r\n")
assert m2.readline() == b"+ \r\n"
m2.send(b"*\r\n")
line = m2.readline()
assert line.startswith(b"a4 BAD"), line
m2.logout()
m.state = "AUTH"

typ, data, u = run(m, "ID", '("name" "test")')
assert typ == "OK" and b"Tidings" in u["ID"][0], u
typ, data = m.enable("CONDSTORE")
assert typ == "OK", data
assert m.untagged_responses.get("ENABLED") == [b"CONDSTORE"], m.untagged_responses
typ, data = m.namespace()
# Other users' mailboxes shared with this one are under shared/ (RFC 4314).
assert data == [b'(("" "/")) (("shared/" "/")) NIL'], data

# LIST: the special-use mailboxes every account has.
lst = ok(m.list())
names = {l.rsplit(b'"/" ', 1)[1] for l in lst}
for n in [b"INBOX", b"Sent", b"Drafts", b"Trash", b"Junk", b"Archive", b'"All Mail"', b"Starred"]:
    assert n in names, (n, lst)
assert any(b"\\Sent" in l and l.endswith(b"Sent") for l in lst), lst
typ, data = m.list('""', '""')
assert data == [b'(\\Noselect) "/" ""'], data

# CREATE with children, CREATE-SPECIAL-USE, RENAME, SUBSCRIBE, DELETE.
ok(m.create("Projects/2026"))
lst = ok(m.list('""', "Projects*"))
assert b'(\\HasChildren) "/" Projects' in lst and b'(\\HasNoChildren) "/" Projects/2026' in lst, lst
lst = ok(m.list("Projects", "%"))
assert lst == [b'(\\HasNoChildren) "/" Projects/2026'], lst
typ, data = m.create("Projects")
assert typ == "NO" and b"ALREADYEXISTS" in data[0], data
typ, data, _ = run(m, "CREATE", "Receipts", "(USE (\\Archive))")
assert typ == "NO" and b"USEATTR" in data[0], data  # one Archive per account
ok(m.delete("Archive"))
typ, data, _ = run(m, "CREATE", "Receipts", "(USE (\\Archive))")
assert typ == "OK", data
ok(m.rename("Projects/2026", "Projects/Done"))
ok(m.subscribe("Projects/Done"))
lsub = ok(m.lsub('""', "Projects/*"))
assert lsub == [b'() "/" Projects/Done'], lsub
typ, data, u = run(m, "LIST", "(SUBSCRIBED)", '""', '"Projects/*"')
assert typ == "OK" and u["LIST"] == [b'(\\HasNoChildren \\Subscribed) "/" Projects/Done'], u
# RFC 5258 §3.5: RECURSIVEMATCH lists an unsubscribed parent of a subscribed
# mailbox with CHILDINFO; without it the parent is not listed.
ok(m.unsubscribe("Projects"))
typ, data, u = run(m, "LIST", "(SUBSCRIBED RECURSIVEMATCH)", '""', '"Projects"')
assert typ == "OK" and u["LIST"] == [b'(\\HasChildren) "/" Projects ("CHILDINFO" ("SUBSCRIBED"))'], u
typ, data, u = run(m, "LIST", "(SUBSCRIBED)", '""', '"Projects"')
assert typ == "OK" and "LIST" not in u, u
typ, data, u = run(m, "LIST", "(SPECIAL-USE)", '""', '"*"')
assert typ == "OK" and all(b"\\" in l.split(b")")[0] for l in u["LIST"]), u
assert any(l.endswith(b"Receipts") and b"\\Archive" in l for l in u["LIST"]), u
typ, data, u = run(m, "LIST", '""', "INBOX", "RETURN", "(STATUS (MESSAGES UIDNEXT))")
assert typ == "OK" and u["STATUS"] and b"MESSAGES" in u["STATUS"][0], u
ok(m.unsubscribe("Projects/Done"))
assert ok(m.lsub('""', "Projects/*")) == [None], "still subscribed"
ok(m.delete("Projects/Done"))
typ, data = m.delete("Projects/Done")
assert typ == "NO" and b"NONEXISTENT" in data[0], data
typ, data = m.delete("INBOX")
assert typ == "NO", data

# STATUS with every item.
typ, data = m.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ MAILBOXID)")
assert typ == "OK", data
for item in [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY", b"UNSEEN", b"DELETED", b"SIZE", b"HIGHESTMODSEQ", b"MAILBOXID ("]:
    assert item in data[-1], (item, data)
typ, data = m.status("Nope", "(MESSAGES)")
assert typ == "NO" and b"NONEXISTENT" in data[0], data

# QUOTA (RFC 9208): the test harness gave the account a 10 MiB quota.
typ, data, u = run(m, "GETQUOTAROOT", "INBOX")
assert typ == "OK" and u["QUOTAROOT"] == [b'INBOX ""'], u
assert re.match(rb'"" \(STORAGE \d+ 10240\)', u["QUOTA"][0]), u
typ, data, u = run(m, "GETQUOTA", '""')
assert typ == "OK" and u["QUOTA"][0].endswith(b" 10240)"), u
typ, data, u = run(m, "SETQUOTA", '""', "(STORAGE 1)")
assert typ == "NO" and b"NOPERM" in data[0], data
typ, data = m.status("INBOX", "(APPENDLIMIT)")
assert data[-1] == b"INBOX (APPENDLIMIT 52428800)", data

# Selected-state commands without a selected mailbox.
lines = raw_line(m, b"s1 FETCH 1 FLAGS")
assert lines[-1].startswith(b"s1 BAD"), lines

typ, data = m.logout()
assert typ == "BYE", data

# Mailbox names: modified UTF-7 by default, UTF-8 after ENABLE UTF8=ACCEPT
# (RFC 6855), where header text also comes as UTF-8.
m = login()
ok(m.create("&ANw-berweisungen"))
lst = ok(m.list('""', '"&ANw-*"'))
assert lst == [b'(\\HasNoChildren) "/" &ANw-berweisungen'], lst
ok(m.append("INBOX", None, None, "From: Jürgen <j@example.org>\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode()))
ok(m.select("INBOX"))
typ, data = m.fetch("*", "(ENVELOPE)")
assert b'"=?UTF-8?B?R3LDvMOfZQ==?="' in data[0], data
m.logout()
m = login()
typ, data = m.enable("UTF8=ACCEPT")
assert typ == "OK" and m.untagged_responses.get("ENABLED") == [b"UTF8=ACCEPT"], (data, m.untagged_responses)
lst = ok(m.list('""', '"Über*"'))
assert lst == ['(\\HasNoChildren) "/" "Überweisungen"'.encode()], lst
ok(m.select("INBOX"))
typ, data = m.fetch("*", "(ENVELOPE)")
assert '"Grüße" (("Jürgen" NIL "j" "example.org"))'.encode() in data[0], data
m.logout()

# IMAP4rev2 (RFC 9051) once enabled: LIST in SELECT, no RECENT, ESEARCH.
m = login()
typ, data = m.enable("IMAP4rev2")
assert typ == "OK" and m.untagged_responses.get("ENABLED") == [b"IMAP4rev2"], m.untagged_responses
typ, data, u = run(m, "SELECT", "INBOX")
assert typ == "OK" and "RECENT" not in u and u["LIST"] == [b'() "/" INBOX'], u
m.state = "SELECTED"
typ, data, u = run(m, "SEARCH", "ALL")
assert typ == "OK" and "SEARCH" not in u and u["ESEARCH"][0].startswith(b'(TAG "'), u
m.logout()

# COMPRESS=DEFLATE (RFC 4978): raw DEFLATE both ways after the OK.
import zlib
m = login()
lines = raw_line(m, b"z1 COMPRESS DEFLATE")
assert lines[-1].startswith(b"z1 OK"), lines
comp = zlib.compressobj(wbits=-15)
decomp = zlib.decompressobj(wbits=-15)
def zcmd(line, tag):
    m.sock.sendall(comp.compress(line + b"\r\n") + comp.flush(zlib.Z_SYNC_FLUSH))
    got = b""
    while not any(l.startswith(tag + b" ") for l in got.split(b"\r\n")):
        chunk = m.sock.recv(65536)
        assert chunk, "closed"
        got += decomp.decompress(chunk)
    return got
got = zcmd(b"z2 LIST \"\" INBOX", b"z2")
assert b'* LIST (\\HasNoChildren) "/" INBOX' in got and b"z2 OK" in got, got
got = zcmd(b"z3 COMPRESS DEFLATE", b"z3")
assert b"z3 NO [COMPRESSIONACTIVE]" in got, got
got = zcmd(b"z4 LOGOUT", b"z4")
assert b"* BYE" in got, got
print("basics ok")
