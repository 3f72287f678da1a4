"""Shared mailboxes (RFC 4314) beyond SELECT: GETQUOTAROOT and GETQUOTA
(RFC 9208), GETMETADATA and SETMETADATA (RFC 5464 §3.3) and NOTIFY (RFC
5465) on `shared/OWNER/NAME`, with imaplib and three users.

Arguments: HOST PORT ALICE PASSWORD BOB CAROL (one password for all).
alice (quota 10 MiB) shares "Team" with bob (`lr`) and gives carol only `l`;
"Private" stays hers."""
import socket

from common import HOST, PORT, PASSWORD, USER as ALICE, EXTRA, connect, run, ok
import imaplib

imaplib.Commands["NOTIFY"] = ("AUTH", "SELECTED")
for name in ("GETMETADATA", "SETMETADATA"):
    imaplib.Commands[name] = ("AUTH", "SELECTED")

BOB, CAROL = EXTRA[0], EXTRA[1]
TEAM = f"shared/{ALICE}/Team"
ROOT = f"shared/{ALICE}"
MESSAGE = b"From: Ann <ann@example.org>\r\nSubject: hello\r\n\r\nHi\r\n"


def login(user):
    m = connect()
    typ, data = m.login(user, PASSWORD)
    assert typ == "OK", data
    return m


def unsolicited(m, wait=10.0):
    """The next line the server sends on its own, or None after `wait` s."""
    m.sock.settimeout(wait)
    try:
        return m.readline().rstrip(b"\r\n")
    except socket.timeout:
        return None
    finally:
        m.sock.settimeout(None)


def no(result, code, what):
    typ, data = result[0], result[1]
    assert typ == "NO" and data and data[0].startswith(f"[{code}]".encode()), f"{what}: {typ} {data}"


alice, bob, carol = login(ALICE), login(BOB), login(CAROL)
ok(alice.create("Team"), "CREATE Team")
ok(alice.create("Private"), "CREATE Private")
ok(alice.setacl("Team", BOB, "lr"), "SETACL bob")
ok(alice.setacl("Team", CAROL, "l"), "SETACL carol")
ok(alice.append("Team", None, None, MESSAGE), "APPEND")

# ---- GETQUOTAROOT / GETQUOTA: the owner's root (RFC 9208 §3.2) ----
typ, data, untagged = run(bob, "GETQUOTAROOT", f'"{TEAM}"')
assert typ == "OK", data
assert untagged["QUOTAROOT"] == [f'"{TEAM}" "{ROOT}"'.encode()] or \
    untagged["QUOTAROOT"] == [f'{TEAM} {ROOT}'.encode()], untagged
quota = untagged["QUOTA"][0]
assert quota.endswith(b" 10240)") and ROOT.encode() in quota and b"(STORAGE " in quota, quota
used = int(quota.split(b"(STORAGE ")[1].split()[0])
assert used >= 1, quota
typ, data, untagged = run(bob, "GETQUOTA", f'"{ROOT}"')
assert typ == "OK" and untagged["QUOTA"] == [quota], (typ, data, untagged)
# bob's own mailboxes: his root "", and he has no quota.
typ, data, untagged = run(bob, "GETQUOTAROOT", "INBOX")
assert typ == "OK" and untagged["QUOTAROOT"] == [b"INBOX"], untagged
# carol sees Team (l) but may not read it (r): no quota; nor alice's root.
no(run(carol, "GETQUOTAROOT", f'"{TEAM}"'), "NOPERM", "carol GETQUOTAROOT")
no(run(carol, "GETQUOTA", f'"{ROOT}"'), "NONEXISTENT", "carol GETQUOTA")
no(run(bob, "GETQUOTAROOT", f'"shared/{ALICE}/Private"'), "NONEXISTENT", "bob GETQUOTAROOT Private")

# ---- METADATA: shared entries are the mailbox's, private ones each user's ----
ok(run(alice, "SETMETADATA", 'Team (/shared/comment "team box" /private/comment "alice note")'), "alice SET")
typ, data, untagged = run(bob, "GETMETADATA", f'"{TEAM}" (/shared/comment /private/comment)')
assert typ == "OK", data
meta = untagged["METADATA"][0]
assert b'/shared/comment "team box"' in meta and b"/private/comment NIL" in meta, meta
ok(run(bob, "SETMETADATA", f'"{TEAM}" (/private/comment "bob note")'), "bob SET private")
typ, data, untagged = run(bob, "GETMETADATA", f'"{TEAM}" (/private/comment)')
assert b'/private/comment "bob note"' in untagged["METADATA"][0], untagged
typ, data, untagged = run(alice, "GETMETADATA", "Team (/private/comment)")
assert b'/private/comment "alice note"' in untagged["METADATA"][0], untagged
# RFC 5464 §3.3 (and Dovecot): `l` and `r` let bob set a shared entry.
ok(run(bob, "SETMETADATA", f'"{TEAM}" (/shared/comment "from bob")'), "bob SET shared")
typ, data, untagged = run(alice, "GETMETADATA", "Team (/shared/comment)")
assert b'/shared/comment "from bob"' in untagged["METADATA"][0], untagged
# carol has `l` alone: NOPERM; a mailbox not shared: NONEXISTENT.
no(run(carol, "GETMETADATA", f'"{TEAM}" (/shared/comment)'), "NOPERM", "carol GET")
no(run(carol, "SETMETADATA", f'"{TEAM}" (/private/comment "x")'), "NOPERM", "carol SET")
no(run(bob, "GETMETADATA", f'"shared/{ALICE}/Private" (/shared/comment)'), "NONEXISTENT", "bob GET Private")

# ---- NOTIFY: the owner's changes to a shared mailbox ----
ok(bob.subscribe(TEAM), "SUBSCRIBE")
typ, data, untagged = run(bob, "NOTIFY", "SET STATUS (subscribed (MessageNew MessageExpunge FlagChange))")
assert typ == "OK", data
status = [st for st in untagged.get("STATUS", []) if st.startswith(b"shared/")]
assert len(status) == 1 and status[0].startswith(f'{TEAM} (MESSAGES 1 UIDNEXT 2 UIDVALIDITY '.encode()), untagged
# carol (`l` only) asks for the same mailbox by name: no counts for her.
typ, data, untagged = run(carol, "NOTIFY", f'SET STATUS (mailboxes "{TEAM}" (MessageNew MessageExpunge))')
assert typ == "OK" and "STATUS" not in untagged, (typ, data, untagged)
# alice appends to Team: bob is told without a command; carol is not.
ok(alice.append("Team", None, None, MESSAGE), "APPEND")
line = unsolicited(bob)
assert line == f'* STATUS {TEAM} (MESSAGES 2 UIDNEXT 3 UNSEEN 2)'.encode(), line
# A mailbox alice did not share: nothing for bob.
ok(alice.append("Private", None, None, MESSAGE), "APPEND Private")
# alice reads one message in Team: FlagChange is UNSEEN.
ok(alice.select("Team"), "SELECT")
ok(alice.store("1", "+FLAGS", "(\\Seen)"), "STORE")
line = unsolicited(bob)
assert line == f'* STATUS {TEAM} (UNSEEN 1)'.encode(), line
line = unsolicited(carol, 1.5)
assert line is None, line
# Access taken away: the mailbox leaves bob's notifications.
ok(alice.deleteacl("Team", BOB), "DELETEACL")
ok(alice.append("Team", None, None, MESSAGE), "APPEND")
line = unsolicited(bob, 1.5)
assert line is None, line
for m in (alice, bob, carol):
    m.shutdown()
print("ok")
