"""Mailboxes shared between accounts (RFC 4314 ACL, RFC 8440
LIST-MYRIGHTS) with imaplib's getacl/setacl/deleteacl/myrights (LISTRIGHTS,
which imaplib lacks, as a raw line).

Arguments: HOST PORT ALICE PASSWORD BOB CAROL (one password for all).
alice shares "Projects" read-only with bob, then lets him write, then
create, rename and delete inside it; carol is granted nothing and must see
nothing."""
import select
import socket

from common import HOST, PORT, PASSWORD, USER as ALICE, EXTRA, connect, raw_line

BOB, CAROL = EXTRA[0], EXTRA[1]
SHARED = f"shared/{ALICE}/Projects"
QSHARED = f'"{SHARED}"'.encode()


def login(user):
    m = connect()
    typ, data = m.login(user, PASSWORD)
    assert typ == "OK", data
    return m


def tagged(lines):
    return lines[-1].decode()


def expect(lines, start, what):
    last = tagged(lines)
    assert last.split(" ", 1)[1].startswith(start), f"{what}: {lines}"
    return lines


def message(subject):
    return (f"From: alice@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@example.org>\r\n\r\nbody of {subject}\r\n").encode()


def append(m, tag, mailbox, msg, flags=b""):
    """APPEND with a non-synchronizing literal; the response lines."""
    return raw_line(m, tag + b" APPEND " + mailbox + b" " + flags
                    + b"{" + str(len(msg)).encode() + b"+}\r\n" + msg)


alice = login(ALICE)
caps = raw_line(alice, b"c CAPABILITY")[0].decode()
for cap in ("ACL", "RIGHTS=texk", "LIST-MYRIGHTS"):
    assert f" {cap}" in caps, caps
ns = raw_line(alice, b"n NAMESPACE")
assert ns[0] == b'* NAMESPACE (("" "/")) (("shared/" "/")) NIL', ns

assert alice.create("Projects")[0] == "OK"
for s in ("plan", "budget"):
    expect(append(alice, b"a", b"Projects", message(s)), "OK", "append")
# The owner has every right, fixed.
typ, data = alice.myrights("Projects")
assert typ == "OK" and data == [b"Projects lrwstipekxacd"], data
typ, data = alice.getacl("Projects")
assert typ == "OK" and data == [f"Projects {ALICE} lrwstipekxacd".encode()], data
# imaplib has no listrights().
lines = raw_line(alice, b"lr LISTRIGHTS Projects " + BOB.encode())
assert lines[0] == f'* LISTRIGHTS Projects {BOB} "" l r w s t p i e k x a c d'.encode(), lines
lines = raw_line(alice, b"lr LISTRIGHTS Projects " + ALICE.encode())
assert lines[0] == f"* LISTRIGHTS Projects {ALICE} lrwstipekxacd".encode(), lines
# Unknown rights are a BAD command; negative rights are not supported.
expect(raw_line(alice, b"s1 SETACL Projects " + BOB.encode() + b" lrz"), "BAD", "unknown right")
expect(raw_line(alice, b"s2 SETACL Projects -" + BOB.encode() + b" lr"), "NO", "negative")
assert alice.setacl("Projects", BOB, "lr")[0] == "OK"
typ, data = alice.getacl("Projects")
assert data == [f"Projects {ALICE} lrwstipekxacd {BOB} lr".encode()], data

# --- bob: read-only ---
bob = login(BOB)
lines = raw_line(bob, b'l LIST "" "*" RETURN (MYRIGHTS)')
text = b"\n".join(lines).decode()
assert '* LIST (\\Noselect \\HasChildren) "/" shared' in text, text
assert f'* LIST (\\Noselect \\HasChildren) "/" shared/{ALICE}\n' in text, text
assert f'* LIST (\\HasNoChildren) "/" {SHARED}\n* MYRIGHTS {SHARED} lr' in text, text
assert "* MYRIGHTS INBOX lrwstipekxacd" in text, text
typ, data = bob.myrights(SHARED)
assert data == [f"{SHARED} lr".encode()], data
status = raw_line(bob, b"st STATUS " + QSHARED + b" (MESSAGES UNSEEN)")
assert status[0] == f"* STATUS {SHARED} (MESSAGES 2 UNSEEN 2)".encode(), status
sel = expect(raw_line(bob, b"s SELECT " + QSHARED), "OK [READ-ONLY]", "select read-only")
assert b"* 2 EXISTS" in sel, sel
assert b"* OK [PERMANENTFLAGS ()] Flags permitted" in sel, sel
fetch = raw_line(bob, b"f FETCH 1 (BODY[] FLAGS)")
assert b"body of plan" in b"".join(fetch), fetch
assert b"\\Seen" not in b"".join(fetch), f"read-only FETCH set \\Seen: {fetch}"
# SEARCH (the full-text index too) and SORT see the owner's messages.
srch = raw_line(bob, b"se SEARCH TEXT plan")
assert srch[0] == b"* SEARCH 1", srch
srt = raw_line(bob, b"so SORT (SUBJECT) UTF-8 ALL")
assert srt[0] == b"* SORT 2 1", srt
expect(raw_line(bob, b"st STORE 1 +FLAGS (\\Seen)"), "NO [NOPERM]", "store")
expect(append(bob, b"ap", QSHARED, message("bobs")), "NO [NOPERM]", "append")
expect(raw_line(bob, b"ex EXPUNGE"), "NO [NOPERM]", "expunge")
expect(raw_line(bob, b"mv MOVE 1 INBOX"), "NO [NOPERM]", "move")
expect(raw_line(bob, b"ga GETACL " + QSHARED), "NO [NOPERM]", "getacl")
expect(raw_line(bob, b"sa SETACL " + QSHARED + b" " + CAROL.encode() + b" lr"), "NO [NOPERM]",
       "setacl")

# --- carol: nothing, not even by guessing the name ---
carol = login(CAROL)
lines = raw_line(carol, b'l LIST "" "*"')
assert not any(b"shared" in l for l in lines), lines
for cmd in (b"SELECT ", b"EXAMINE ", b"STATUS ", b"MYRIGHTS ", b"GETACL "):
    extra = b" (MESSAGES)" if cmd == b"STATUS " else b""
    expect(raw_line(carol, b"c " + cmd + QSHARED + extra), "NO [NONEXISTENT]", cmd.decode())
expect(append(carol, b"ap", QSHARED, message("carols")), "NO [TRYCREATE]", "carol append")

# --- bob may write: lrswi ---
# An address names its account in any case.
assert alice.setacl("Projects", BOB.upper(), "+swi")[0] == "OK"
typ, data = alice.getacl("Projects")
assert data == [f"Projects {ALICE} lrwstipekxacd {BOB} lrwsi".encode()], data
sel = expect(raw_line(bob, b"s SELECT " + QSHARED), "OK [READ-WRITE]", "select read-write")
# RFC 4314 §4: only the flags bob may change are permanent: no \Deleted
# without t.
want = b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Seen \\Draft $Forwarded $Junk \\*)] Flags permitted"
assert want in sel, sel
# \Seen changes (s); \Deleted needs t and is ignored, the command succeeds.
store = expect(raw_line(bob, b"st STORE 1 +FLAGS (\\Seen \\Deleted)"), "OK", "store seen")
assert any(l.startswith(b"* 1 FETCH (FLAGS (\\Seen") and b"Deleted" not in l for l in store), store
expect(raw_line(bob, b"sd STORE 1 +FLAGS (\\Deleted)"), "NO [NOPERM]", "store deleted only")
ap = expect(append(bob, b"ap", QSHARED, message("bobs"), b"(\\Seen) "), "OK [APPENDUID", "append")
assert b"* 3 EXISTS" in b"\n".join(ap), ap
expect(raw_line(bob, b"ex EXPUNGE"), "NO [NOPERM]", "expunge without e")
cp = expect(raw_line(bob, b"cp COPY 3 INBOX"), "OK [COPYUID", "copy to own INBOX")
# The owner sees bob's message and the \Seen bob set (one keyword set).
alice.select("Projects")
typ, data = alice.fetch("1:3", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
flat = b"".join(x[0] + x[1] if isinstance(x, tuple) else x for x in data)
assert flat.count(b"\\Seen") == 2 and b"bobs" in flat, data
bob_inbox = raw_line(bob, b"x STATUS INBOX (MESSAGES)")
assert bob_inbox[0] == b"* STATUS INBOX (MESSAGES 1)", bob_inbox

# --- k and x: mailboxes inside the shared one; SUBSCRIBE ---
SUB = (SHARED + "/Sub").encode()
expect(raw_line(bob, b"c CREATE " + SUB), "NO [NOPERM]", "create without k")
expect(raw_line(carol, b"c CREATE " + SUB), "NO [NONEXISTENT]", "carol create")
assert alice.setacl("Projects", BOB, "+kx")[0] == "OK"
expect(raw_line(bob, b"c CREATE " + SUB), "OK", "create with k")
# The new mailbox has its parent's ACL, so bob sees and uses what he made.
lines = raw_line(bob, b'l LIST "" "' + SHARED.encode() + b'/*" RETURN (MYRIGHTS)')
assert lines[0] == f'* LIST (\\HasNoChildren) "/" {SHARED}/Sub'.encode(), lines
assert lines[1] == f"* MYRIGHTS {SHARED}/Sub lrwsikxc".encode(), lines
expect(raw_line(bob, b"r RENAME " + SUB + b" " + SUB + b"2"), "OK", "rename with x and k")
expect(raw_line(bob, b"r RENAME " + SUB + b"2 Mine"), "NO [CANNOT]", "rename to own")
lines = raw_line(alice, b'l LIST "" Projects/*')
assert lines[0] == b'* LIST (\\HasNoChildren) "/" Projects/Sub2', lines
expect(raw_line(bob, b"d DELETE " + SUB + b"2"), "OK", "delete with x")
lines = raw_line(alice, b'l LIST "" Projects/*')
assert len(lines) == 1, lines
expect(raw_line(bob, b"su SUBSCRIBE " + QSHARED), "OK", "subscribe")
lines = raw_line(bob, b'l LSUB "" shared/*')
assert lines[0] == f'* LSUB () "/" {SHARED}'.encode(), lines
expect(raw_line(carol, b"su SUBSCRIBE " + QSHARED), "NO [NONEXISTENT]", "carol subscribe")

# --- IDLE wakes on the owner's changes ---
raw_line(bob, b"n NOOP")
bob.send(b"i IDLE\r\n")
assert bob.readline().startswith(b"+"), "no IDLE continuation"
expect(append(alice, b"a", b"Projects", message("late")), "OK", "alice append")
sock = bob.socket()
ready, _, _ = select.select([sock], [], [], 10)
assert ready, "IDLE did not wake on the owner's APPEND"
line = bob.readline()
assert line == b"* 4 EXISTS\r\n", line
bob.send(b"DONE\r\n")
while not line.startswith(b"i "):
    line = bob.readline()
assert line.startswith(b"i OK"), line

# --- revoked: the selected session loses it at its next command ---
assert alice.deleteacl("Projects", BOB)[0] == "OK"
lines = raw_line(bob, b"f FETCH 1 (FLAGS)")
assert lines[0].startswith(b"* OK [CLOSED]"), lines
expect(lines, "NO [NOPERM]", "fetch after revoke")
expect(raw_line(bob, b"s SELECT " + QSHARED), "NO [NONEXISTENT]", "select after revoke")
lines = raw_line(bob, b'l LIST "" "*"')
assert not any(b"shared" in l for l in lines), lines

for m in (alice, bob, carol):
    m.logout()
print("ok")
