"""Drives a running `tidings serve` with Python's poplib: every POP3
command, and every response code a client can provoke from outside.

    python3 poplib_session.py HOST POP3_PORT POP3S_PORT USER PASSWORD MSGDIR

MSGDIR holds 1.eml, 2.eml, 3.eml: the messages in USER's INBOX, in order,
exactly as delivered. The script deletes message 3 (under the default
mark-read policy). It prints one `ok:` line per check and exits 1 at the
first failure. Run by crates/server/tests/pop3.rs.
"""

import base64
import poplib
import ssl
import sys
import time

host, port, sport, user, password, msgdir = sys.argv[1:7]
port, sport = int(port), int(sport)
msgs = [open(f"{msgdir}/{i}.eml", "rb").read() for i in (1, 2, 3)]

# The server's certificate is self-signed: accept it.
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def err(what, f, *args, code=None, text=None):
    """Calls f(*args), which must fail with -ERR (and [code], and text)."""
    try:
        resp = f(*args)
    except poplib.error_proto as e:
        resp = e.args[0]
        if isinstance(resp, str):
            resp = resp.encode()
        ok = resp.startswith(b"-ERR")
        if code is not None:
            ok = ok and resp.startswith(b"-ERR [" + code.encode() + b"]")
        if text is not None:
            ok = ok and text.encode() in resp
        check(ok, f"{what}: {resp!r}")
        return resp
    check(False, f"{what}: expected -ERR, got {resp!r}")


def plain(authzid, authcid, pw):
    return base64.b64encode(f"{authzid}\0{authcid}\0{pw}".encode()).decode()


def body(lines):
    """poplib undoes the dot-stuffing and splits on CRLF."""
    return b"".join(line + b"\r\n" for line in lines)


# --- AUTHORIZATION state, plaintext port ------------------------------------
p = poplib.POP3(host, port, timeout=30)
check(p.getwelcome().startswith(b"+OK"), "greeting")
caps = p.capa()
for cap in ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
            "UTF8", "USER", "SASL", "STLS", "IMPLEMENTATION"]:
    check(cap in caps, f"CAPA lists {cap}")
check(caps["SASL"] == ["PLAIN"], "SASL PLAIN is the mechanism")
err("STAT before login", p.stat, text="only allowed after login")
err("unknown command", p._shortcmd, "FROBNICATE", text="unknown command")
err("over-long line", p._shortcmd, "NOOP " + "x" * 300, text="line too long")
err("PASS before USER", p.pass_, password, text="USER first")
check(p.utf8().startswith(b"+OK"), "UTF8 (RFC 6856)")

# --- STLS (RFC 2595) --------------------------------------------------------
check(p.stls(context=ctx).startswith(b"+OK"), "STLS")
caps = p.capa()
check("STLS" not in caps and "USER" in caps, "after TLS, CAPA drops STLS")
err("STLS twice", p._shortcmd, "STLS", text="already")

# --- TRANSACTION state ------------------------------------------------------
check(p.user(user).startswith(b"+OK"), "USER")
resp = p.pass_(password)
check(resp.startswith(b"+OK") and b"3 messages" in resp, f"PASS: {resp!r}")
total = sum(len(m) for m in msgs)
check(p.stat() == (3, total), "STAT counts and sizes the stored bytes")
resp, lines, _ = p.list()
check(lines == [f"{i} {len(m)}".encode() for i, m in enumerate(msgs, 1)], "LIST")
check(p.list(2) == f"+OK 2 {len(msgs[1])}".encode(), "LIST 2")
resp, uidls, _ = p.uidl()
check(len(uidls) == 3 and all(u.split()[1].startswith(b"M") for u in uidls), f"UIDL {uidls}")
check(p.uidl(1) == b"+OK " + uidls[0], "UIDL 1")
for i, m in enumerate(msgs, 1):
    resp, lines, _ = p.retr(i)
    check(body(lines) == m, f"RETR {i} is the stored message exactly")
resp, lines, _ = p.top(1, 0)
head = msgs[0].split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
check(body(lines) == head, "TOP 1 0 is the header and the blank line")
resp, lines, _ = p.top(1, 1)
check(len(lines) == head.count(b"\r\n") + 1, "TOP 1 1 adds one body line")
err("RETR out of range", p.retr, 9, text="no such message")
err("RETR 0", p.retr, 0, text="no such message")
err("TOP out of range", p.top, 4, 1, text="no such message")
err("RETR without a number", p._shortcmd, "RETR x", text="syntax error")
check(p.dele(1).startswith(b"+OK"), "DELE 1")
err("RETR of a deleted message", p.retr, 1, text="already deleted")
err("DELE twice", p.dele, 1, text="already deleted")
check(p.stat() == (2, total - len(msgs[0])), "STAT leaves out deleted messages")
check(p.rset().startswith(b"+OK"), "RSET")
check(p.stat() == (3, total), "RSET undeletes")
check(p.noop().startswith(b"+OK"), "NOOP")
err("USER after login", p.user, user, text="not allowed after login")
err("unknown command after login", p._shortcmd, "XYZZY", text="unknown command")

# One session per maildrop (RFC 2449 §8.1.1 [IN-USE]).
q = poplib.POP3(host, port, timeout=30)
q.user(user)
err("a second session", q.pass_, password, code="IN-USE")
q.quit()

check(p.dele(3).startswith(b"+OK"), "DELE 3")
resp = p.quit()
check(resp.startswith(b"+OK") and b"1 messages deleted" in resp, f"QUIT: {resp!r}")

# --- implicit TLS, AUTH PLAIN (RFC 5034), UIDLs stable ----------------------
s = poplib.POP3_SSL(host, sport, context=ctx, timeout=30)
caps = s.capa()
check("STLS" not in caps and "USER" in caps, "POP3S: no STLS, USER allowed")
resp = s._shortcmd("AUTH PLAIN " + plain("", user, password))
check(b"2 messages" in resp, f"AUTH PLAIN with an initial response: {resp!r}")
resp, after, _ = s.uidl()
check(after == uidls[:2], "UIDLs are the same in the next session; 3 is gone")
s.quit()

a = poplib.POP3(host, port, timeout=30)
a._putcmd("AUTH PLAIN")
check(a._getline()[0] == b"+ ", "AUTH PLAIN without initial response: empty challenge")
err("cancelled", a._shortcmd, "*", text="cancelled")
err("unknown mechanism", a._shortcmd, "AUTH CRAM-MD5", text="unsupported")
a._putcmd("AUTH PLAIN")
a._getline()
check(a._shortcmd(plain("", user, password)).startswith(b"+OK"), "AUTH PLAIN continuation")
a.quit()

# --- recent mode: the deleted message 3 is offered again --------------------
r = poplib.POP3(host, port, timeout=30)
r.user("recent:" + user)
resp = r.pass_(password)
check(b"3 messages" in resp and b"recent mode" in resp, f"recent mode: {resp!r}")
resp, lines, _ = r.uidl()
check(lines == uidls, "recent mode lists what POP3 deleted (mark-read)")
r.quit()

# --- wrong passwords: [AUTH], slower each time, then disconnected -----------
w = poplib.POP3(host, port, timeout=30)
started = time.monotonic()
for i in (1, 2, 3):
    w.user(user)
    resp = err(f"wrong password {i}", w.pass_, "wrong", code="AUTH")
elapsed = time.monotonic() - started
check(elapsed >= 5.5, f"failures are delayed 1 s, 2 s, 3 s ({elapsed:.1f} s)")
check(b"closing" in resp, "the third failure closes the session")
try:
    w._getline()
    check(False, "the connection should be closed")
except (poplib.error_proto, OSError) as e:
    check(True, f"the server closed the connection ({e})")

print("poplib: all checks passed")
