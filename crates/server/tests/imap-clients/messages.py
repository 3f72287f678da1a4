"""Selected state: APPEND (APPENDUID, flags, date, TRYCREATE), SELECT and
EXAMINE responses, FETCH (every data item and body sections), STORE with
and without .SILENT and UNCHANGEDSINCE, COPY (COPYUID), MOVE, EXPUNGE,
UID EXPUNGE, SEARCH and ESEARCH, CONDSTORE CHANGEDSINCE, QRESYNC SELECT
with VANISHED (EARLIER), CLOSE, UNSELECT."""
import imaplib
import re

from common import *

MSG = (b"From: Ann Example <ann@example.org>\r\nTo: Bob <bob@localhost>\r\n"
       b"Cc: carol@example.net\r\nSubject: Quarterly report\r\n"
       b"Date: Tue, 3 Mar 2026 10:00:00 +0000\r\nMessage-ID: <q1@example.org>\r\n"
       b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
       b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nNumbers are up.\r\n"
       b"--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
       b"Content-Disposition: attachment; filename=r.pdf\r\n\r\nJVBERi0=\r\n--b1--\r\n")
PLAIN = (b"From: Dan <dan@example.com>\r\nTo: bob@localhost\r\nSubject: lunch?\r\n"
         b"Date: Wed, 4 Mar 2026 12:00:00 +0000\r\n\r\nPizza at noon.\r\n")

m = login()
# APPEND: APPENDUID, flags and date kept; TRYCREATE for a missing mailbox.
typ, data = m.append("INBOX", "(\\Flagged $Work)", '"03-Mar-2026 10:00:00 +0000"', MSG)
assert typ == "OK", data
mo = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
assert mo, data
uidvalidity, uid1 = int(mo.group(1)), int(mo.group(2))
typ, data = m.append("INBOX", None, None, PLAIN)
uid2 = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
assert uid2 > uid1
typ, data = m.append("NoSuchBox", None, None, PLAIN)
assert typ == "NO" and b"TRYCREATE" in data[0], data

# EXAMINE: read-only, FETCH BODY[] does not set \Seen.
typ, data = m.select("INBOX", readonly=True)
assert typ == "OK" and data[-1] == b"2", data
assert m.untagged_responses.get("READ-ONLY") is not None or True
typ, data = m.fetch("1", "(BODY[TEXT])")
assert typ == "OK" and b"\\Seen" not in data[-1] if isinstance(data[-1], bytes) else True, data
typ, data = m.store("1", "+FLAGS", "(\\Seen)")
assert typ == "NO", data

# SELECT: FLAGS, PERMANENTFLAGS, EXISTS, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, MAILBOXID.
m.untagged_responses.clear()
tag = m._command("SELECT", "INBOX")
typ, data = m._command_complete("SELECT", tag)
assert typ == "OK" and b"[READ-WRITE]" in data[0], data
u = m.untagged_responses
assert u["EXISTS"] == [b"2"], u
assert b"\\Seen" in u["FLAGS"][0], u
oks = b" ".join(u["OK"])
for code in [b"PERMANENTFLAGS", b"UIDVALIDITY %d" % uidvalidity, b"UIDNEXT %d" % (uid2 + 1), b"HIGHESTMODSEQ", b"MAILBOXID (F"]:
    assert code in oks, (code, oks)
m.state = "SELECTED"

# FETCH: metadata items.
typ, data = m.fetch("1", "(FLAGS UID INTERNALDATE RFC822.SIZE ENVELOPE EMAILID THREADID MODSEQ X-GM-MSGID X-GM-THRID SAVEDATE)")
line = data[0]
assert typ == "OK", data
# Appended before this session's SELECT: \Recent here (RFC 3501 §2.3.2).
assert set(re.search(rb"FLAGS \(([^)]*)\)", line).group(1).split()) == {b"\\Flagged", b"$Work", b"\\Recent"}, line
assert b'INTERNALDATE " 3-Mar-2026 10:00:00 +0000"' in line, line
assert b"RFC822.SIZE %d" % len(MSG) in line, line
assert b'"Quarterly report" (("Ann Example" NIL "ann" "example.org"))' in line, line
assert b'((NIL NIL "carol" "example.net"))' in line and b'"<q1@example.org>"' in line, line
for item in [b"EMAILID (M", b"THREADID (T", b"MODSEQ (", b"X-GM-MSGID ", b"X-GM-THRID ", b"SAVEDATE "]:
    assert item in line, (item, line)
# PREVIEW (RFC 8970): the start of the body text, made at delivery.
assert b"PREVIEW" in m.capability()[1][0]
typ, data = m.fetch("1", "(PREVIEW (LAZY))")
assert typ == "OK" and b'PREVIEW "Numbers are up."' in data[0], data
typ, data = m.fetch("1", "BODYSTRUCTURE")
bs = data[0]
assert b'("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 15 0' in bs, bs
assert b'("application" "pdf" NIL NIL NIL "base64" 8' in bs and b'"mixed"' in bs, bs
assert b'("attachment" ("filename" "r.pdf"))' in bs, bs
# BINARY (RFC 3516): the base64 part decoded, its decoded size.
typ, data = m.fetch("1", "(BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[1]<0.7>)")
assert typ == "OK" and data[0][1] == b"%PDF-", data
assert b"BINARY.SIZE[2] 5" in data[1][0], data
assert data[1][1] == b"Numbers", data
typ, data = m.fetch("1", "FLAGS")
assert b"\\Seen" not in data[0], data
typ, data = m.fetch("1", "BODY")
assert b'"mixed")' in data[0] and b"attachment" not in data[0], data

# FETCH: body sections and partials; PEEK keeps \Seen off.
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject From)] BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[]<0.4> BODY.PEEK[HEADER.FIELDS.NOT (Subject)])")
parts = {d[0].split(b" {")[0].split(b"(", 1)[-1].strip(): d[1] for d in data if isinstance(d, tuple)}
assert data[0][1] == b"From: Ann Example <ann@example.org>\r\nSubject: Quarterly report\r\n\r\n", data[0]
assert data[1][1] == b"Numbers are up.", data[1]
assert data[2][1] == b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=r.pdf\r\n\r\n", data[2]
assert b"BODY[]<0>" in data[3][0] and data[3][1] == b"From", data[3]
assert b"Subject" not in data[4][1] and data[4][1].startswith(b"From:"), data[4]
typ, data = m.fetch("1", "FLAGS")
assert b"\\Seen" not in data[0], data
typ, data = m.fetch("1", "(RFC822.HEADER)")
assert data[0][1].endswith(b"boundary=b1\r\n\r\n"), data
# BODY[] sets \Seen and reports it.
typ, data = m.fetch("1", "(BODY[])")
assert data[0][1] == MSG, data
assert b"\\Seen" in data[1] or b"\\Seen" in data[0][0], data
typ, data = m.uid("FETCH", str(uid2), "(RFC822.TEXT)")
assert data[0][1] == b"Pizza at noon.\r\n" and b"UID %d" % uid2 in data[0][0] + data[1], data
# Sequence number beyond EXISTS: BAD.
typ, data, _ = run(m, "FETCH", "9", "FLAGS")
assert typ == "BAD", data

# STORE.
typ, data = m.store("2", "+FLAGS", "(\\Answered)")
assert typ == "OK" and b"\\Answered" in data[0], data
# FETCH MODSEQ above enabled CONDSTORE (RFC 7162 §3.1): .SILENT leaves out
# FLAGS but still reports the new UID and MODSEQ.
typ, data = m.store("2", "-FLAGS.SILENT", "(\\Answered)")
assert typ == "OK" and len(data) == 1 and b"FLAGS" not in data[0], data
assert re.match(rb"2 \(UID \d+ MODSEQ \(\d+\)\)", data[0]), data
typ, data = m.store("1:*", "FLAGS", "(\\Seen)")
assert len(data) == 2 and all(b"FLAGS (\\Seen \\Recent)" in d for d in data), data
typ, data = m.uid("STORE", str(uid2), "+FLAGS", "(\\Flagged)")
assert b"UID %d" % uid2 in data[0], data
# CONDSTORE: UNCHANGEDSINCE with an old MODSEQ fails with MODIFIED.
typ, data, u = run(m, "STORE", "1", "(UNCHANGEDSINCE 1)", "+FLAGS", "(\\Draft)")
assert typ == "OK" and b"[MODIFIED 1]" in data[0], data
typ, data = m.fetch("1", "(MODSEQ)")
modseq1 = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
typ, data, u = run(m, "STORE", "1", "(UNCHANGEDSINCE %d)" % modseq1, "+FLAGS", "(\\Draft)")
assert typ == "OK" and b"MODIFIED" not in data[0], data
# CHANGEDSINCE returns only what changed after.
typ, data = m.fetch("1:*", "(MODSEQ)")
highest = max(int(x) for x in re.findall(rb"MODSEQ \((\d+)\)", b" ".join(data)))
m.store("1", "+FLAGS", "(\\Answered)")
typ, data = m.fetch("1:*", "(FLAGS) (CHANGEDSINCE %d)" % highest)
assert len(data) == 1 and data[0].startswith(b"1 ("), data
# RFC 7162 §3.1.3: a conditional STORE reports the new MODSEQ even with
# .SILENT (and no FLAGS), only for the messages it changed.
typ, data = m.fetch("1", "(MODSEQ)")
before = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
typ, data, u = run(m, "STORE", "1", "(UNCHANGEDSINCE %d)" % before, "+FLAGS.SILENT", "($CondTest)")
assert typ == "OK", data
fetches = u.get("FETCH", [])
assert len(fetches) == 1 and fetches[0].startswith(b"1 (") and b"FLAGS" not in fetches[0], u
after = int(re.search(rb"MODSEQ \((\d+)\)", fetches[0]).group(1))
assert after > before, (before, after)
# So does a plain .SILENT store once CONDSTORE is enabled (RFC 7162 §3.1,
# as Dovecot): UID and MODSEQ, no FLAGS.
typ, data = m.store("1", "-FLAGS.SILENT", "($CondTest)")
assert typ == "OK" and len(data) == 1 and b"FLAGS" not in data[0], data
assert int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1)) > after, data

# SEARCH.
def search(*criteria):
    typ, data = m.search(None, *criteria)
    assert typ == "OK", data
    return data[0].split()
assert search("ALL") == [b"1", b"2"]
assert search("FROM", "ann") == [b"1"]
assert search("SUBJECT", "LUNCH") == [b"2"]
assert search("CC", "carol") == [b"1"]
assert search("FLAGGED") == [b"2"]
assert search("ANSWERED") == [b"1"]
assert search("NOT", "DRAFT") == [b"2"]
assert search("OR", "FROM", "dan", "SUBJECT", "quarterly") == [b"1", b"2"]
assert search("LARGER", "300") == [b"1"]
assert search("SMALLER", "300") == [b"2"]
assert search("SENTBEFORE", "4-Mar-2026") == [b"1"]
assert search("SENTON", "4-Mar-2026") == [b"2"]
assert search("ON", "3-Mar-2026") == [b"1"]
assert search("BODY", "pizza") == [b"2"]
assert search("TEXT", "numbers") == [b"1"]
assert search("HEADER", "Message-ID", "q1@") == [b"1"]
assert search("YOUNGER", "3600") == [b"2"]  # WITHIN (RFC 5032): INTERNALDATE
assert search("OLDER", "3600") == [b"1"]
assert search("SAVEDATESUPPORTED") == [b"1", b"2"]  # RFC 8514
assert search("SAVEDBEFORE", "1-Jan-2000") == []
m.store("2", "+FLAGS", "($Later)")
assert search("KEYWORD", "$Later") == [b"2"]
assert search("UNKEYWORD", "$Later") == [b"1"]
assert search("2") == [b"2"]
typ, data = m.uid("SEARCH", "SUBJECT", "lunch")
assert data[0].split() == [str(uid2).encode()], data
typ, data, u = run(m, "SEARCH", "RETURN", "(MIN MAX COUNT)", "ALL")
assert typ == "OK" and u["ESEARCH"][0].endswith(b"MIN 1 MAX 2 COUNT 2"), u
# SORT and SORT=DISPLAY.
def sort(criteria, *search):
    typ, data = m.sort(criteria, "UTF-8", *(search or ("ALL",)))
    assert typ == "OK", data
    return data[0].split()
assert sort("(SUBJECT)") == [b"2", b"1"]
assert sort("(REVERSE SUBJECT)") == [b"1", b"2"]
assert sort("(DATE)") == [b"1", b"2"]
assert sort("(REVERSE DATE)") == [b"2", b"1"]
assert sort("(SIZE)") == [b"2", b"1"]
assert sort("(FROM)") == [b"1", b"2"]
assert sort("(DISPLAYFROM)") == [b"1", b"2"]
assert sort("(ARRIVAL)", "FROM", "dan") == [b"2"]
typ, data = m.uid("SORT", "(REVERSE ARRIVAL)", "UTF-8", "ALL")
assert data[0].split() == [str(uid2).encode(), str(uid1).encode()], data

# THREAD=ORDEREDSUBJECT: a reply joins its thread under the first message.
typ, data = m.append("INBOX", None, None, b"From: x@example.org\r\nSubject: Re: lunch?\r\nReferences: <q1@example.org>\r\nDate: Thu, 5 Mar 2026 12:00:00 +0000\r\n\r\nyes\r\n")
uid_re = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
m.noop()
typ, data = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
assert typ == "OK" and data == [b"(1)(2 3)"], data
typ, data = m.uid("THREAD", "ORDEREDSUBJECT", "UTF-8", "ALL")
assert data == [b"(%d)(%d %d)" % (uid1, uid2, uid_re)], data
typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
assert typ == "OK" and data == [b"(1 3)(2)"], data  # References win over the subject
typ, data, _ = run(m, "THREAD", "FOO", "UTF-8", "ALL")
assert typ in ("NO", "BAD"), data
ok(m.store("3", "+FLAGS", "(\\Deleted)"))
ok(m.expunge())

# SEARCHRES: SAVE alone returns nothing; $ then names the result.
typ, data, u = run(m, "SEARCH", "RETURN", "(SAVE)", "FROM", "ann")
assert typ == "OK" and "ESEARCH" not in u and "SEARCH" not in u, u
typ, data = m.fetch("$", "(UID)")
assert typ == "OK" and len(data) == 1 and data[0].startswith(b"1 (UID %d)" % uid1), data
typ, data = m.uid("FETCH", "$", "(FLAGS)")
assert len(data) == 1 and b"UID %d" % uid1 in data[0], data
assert search("NOT", "$") == [b"2"]
typ, data, u = run(m, "SEARCH", "RETURN", "(SAVE MAX)", "ALL")
assert typ == "OK" and u["ESEARCH"][0].endswith(b"MAX 2"), u
assert search("$") == [b"2"]
typ, data = m.search(None, "MODSEQ", str(modseq1))
assert typ == "OK" and b"(MODSEQ" in data[0], data

# COPY adds a label: COPYUID; the email shows up in Archive-like folders.
ok(m.create("Work"))
typ, data = m.copy("1", "Work")
assert typ == "OK" and re.search(rb"\[COPYUID \d+ %d \d+\]" % uid1, data[0]), data
typ, data = m.copy("1", "Nope")
assert typ == "NO" and b"TRYCREATE" in data[0], data
typ, data = m.status("Work", "(MESSAGES)")
assert data[-1] == b"Work (MESSAGES 1)", data

# X-GM-EXT-1: labels are the mailboxes an email is in.
imaplib.Commands.setdefault("X-GM-LABELS", ("SELECTED",))
typ, data = m.fetch("1", "(X-GM-LABELS)")
assert typ == "OK" and b"\\Inbox" in data[0] and b"Work" in data[0], data
ok(m.create("Tagged"))
typ, data = m.store("1", "+X-GM-LABELS", "(Tagged)")
assert typ == "OK" and b"Tagged" in data[0], data
typ, data = m.status("Tagged", "(MESSAGES)")
assert data[-1] == b"Tagged (MESSAGES 1)", data
assert search("X-GM-LABELS", "Tagged") == [b"1"]
assert search("X-GM-RAW", '"label:tagged from:ann has:attachment"') == []  # label names are exact
assert search("X-GM-RAW", '"label:Tagged from:ann has:attachment"') == [b"1"]
assert search("X-GM-RAW", '"in:inbox -label:Tagged"') == [b"2"]
assert search("X-GM-RAW", "pizza") == [b"2"]
typ, data = m.store("1", "-X-GM-LABELS.SILENT", "(Tagged)")
assert typ == "OK", data
typ, data = m.status("Tagged", "(MESSAGES)")
assert data[-1] == b"Tagged (MESSAGES 0)", data
typ, data = m.store("1", "+X-GM-LABELS", "(NoSuchLabel)")
assert typ == "NO" and b"TRYCREATE" in data[0], data

# MULTIAPPEND (RFC 3502): two messages, one APPENDUID with both UIDs.
m.send(b"ma APPEND Work (\\Seen) {%d}\r\n" % len(PLAIN))
assert m.readline().startswith(b"+ ")
m.send(PLAIN + b" (\\Flagged) {%d}\r\n" % len(MSG))
assert m.readline().startswith(b"+ ")
m.send(MSG + b"\r\n")
line = m.readline()
assert re.match(rb"ma OK \[APPENDUID \d+ \d+:\d+\]", line), line
typ, data = m.status("Work", "(MESSAGES)")
assert data[-1] == b"Work (MESSAGES 3)", data

# MOVE: untagged COPYUID, EXPUNGE, then OK.
ok(m.create("Later"))
typ, data, u = run(m, "MOVE", "2", "Later")
assert typ == "OK", data
assert any(b"COPYUID" in l for l in u.get("OK", [])), u
assert u["EXPUNGE"] == [b"2"], u
typ, data = m.search(None, "ALL")
assert data == [b"1"], data

# EXPUNGE and UID EXPUNGE.
ok(m.append("INBOX", "(\\Deleted)", None, PLAIN))
ok(m.append("INBOX", "(\\Deleted)", None, PLAIN))
typ, data = m.noop()
typ, data = m.search(None, "ALL")
assert data == [b"1 2 3"], data
typ, data = m.fetch("3", "(UID)")
uid3 = re.search(rb"UID (\d+)", data[0]).group(1)
typ, data = m.uid("EXPUNGE", uid3.decode())
assert typ == "OK", data
assert m.untagged_responses.get("EXPUNGE") == [b"3"], m.untagged_responses
typ, data = m.expunge()
assert typ == "OK" and data[-1] == b"2", data
typ, data = m.search(None, "ALL")
assert data == [b"1"], data

# QRESYNC: VANISHED (EARLIER) and changed flags since a MODSEQ.
typ, data = m.status("INBOX", "(HIGHESTMODSEQ)")
hms = int(re.search(rb"HIGHESTMODSEQ (\d+)", data[-1]).group(1))
ok(m.append("INBOX", "(\\Deleted)", None, PLAIN))
m.noop()
m.expunge()
m.store("1", "-FLAGS", "(\\Draft)")
ok(m.unselect() if hasattr(m, "unselect") else run(m, "UNSELECT"))
m.state = "AUTH"
typ, data = m.enable("QRESYNC")
assert typ == "OK", data
typ, data, u = run(m, "SELECT", "INBOX", "(QRESYNC (%d %d))" % (uidvalidity, hms))
assert typ == "OK", data
assert u.get("VANISHED") and u["VANISHED"][0].startswith(b"(EARLIER)"), u
assert any(b"MODSEQ" in f for f in u.get("FETCH", [])), u
m.state = "SELECTED"
# CLOSE expunges silently.
m.store("1", "+FLAGS", "(\\Deleted)")
m.untagged_responses.clear()
typ, data = m.close()
assert typ == "OK" and "EXPUNGE" not in m.untagged_responses, m.untagged_responses
typ, data = m.status("INBOX", "(MESSAGES)")
assert data[-1] == b"INBOX (MESSAGES 0)", data
m.logout()
print("messages ok")
