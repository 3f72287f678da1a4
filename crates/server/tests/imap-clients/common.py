"""Helpers shared by the imaplib conversations run from crates/server/tests/imap.rs.

Every script takes HOST PORT USER PASSWORD [USER2] and exits non-zero (an
AssertionError with the server's words) when the server says something else
than expected."""
import imaplib
import sys

ALL_STATES = ("NONAUTH", "AUTH", "SELECTED", "LOGOUT")
for _name in ["ID", "MOVE", "ENABLE", "NAMESPACE", "UNSELECT", "ESEARCH", "GETQUOTAROOT", "GETQUOTA", "SETQUOTA"]:
    imaplib.Commands.setdefault(_name, ALL_STATES)

HOST, PORT, USER, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
EXTRA = sys.argv[5:]


def connect():
    return imaplib.IMAP4(HOST, PORT)


def login():
    m = connect()
    typ, data = m.login(USER, PASSWORD)
    assert typ == "OK", data
    return m


def run(m, name, *args):
    """Runs a command imaplib has no method for; returns (typ, tagged data, all untagged lines)."""
    m.untagged_responses.clear()
    tag = m._command(name, *args)
    try:
        typ, data = m._command_complete(name, tag)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as e:  # imaplib raises on BAD
        typ, data = "BAD", [str(e).encode()]
    untagged = {k: list(v) for k, v in m.untagged_responses.items()}
    m.untagged_responses.clear()
    return typ, data, untagged


def ok(result, what=""):
    typ, data = result[0], result[1]
    assert typ == "OK", f"{what}: {typ} {data}"
    return data


def raw_line(m, line):
    """Sends a raw line, returns every response line up to the tagged one."""
    tag = line.split(b" ", 1)[0]
    m.send(line + b"\r\n")
    out = []
    while True:
        resp = m.readline()
        assert resp, "connection closed"
        out.append(resp.rstrip(b"\r\n"))
        if resp.startswith(tag + b" "):
            return out
