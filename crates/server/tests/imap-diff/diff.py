"""Differential IMAP conformance: the same scripted conversations against
Tidings and against Dovecot (the reference server), replies normalised and
compared.

    python3 diff.py TIDINGS_PORT DOVECOT_PORT USER PASSWORD EXPECTED_FILE

Every conversation in conversations.py runs on a fresh connection to each
server, in order, on the same user (both start with an empty INBOX; the
conversations make their own mailboxes). A reply is everything the server
sends for one command, up to its tagged completion, parsed into tokens
(atoms, strings, literals, lists) and normalised where the standards leave a
choice or the value is the server's own:

- the human-readable text of status responses is dropped (the response
  code stays);
- values each server makes up are replaced by a placeholder: UIDVALIDITY,
  MODSEQ and HIGHESTMODSEQ numbers, INTERNALDATE, EMAILID / THREADID /
  X-GM-* ids, the size of a mailbox in STATUS SIZE, URLAUTH tokens
  (`:INTERNAL:*`);
- untagged responses of one reply are compared as a sorted list (RFC 9051
  §7 fixes no order between them), and the data items inside one FETCH
  response as a sorted list of pairs;
- CAPABILITY responses and codes, ID and NAMESPACE are left out: the two
  servers are expected to differ there (docs/rfc-status.md).

EXPECTED_FILE lists the differences that are known: one line per
`conversation/step` with a reason. The run fails on a difference that is
not listed, and on a listed one that no longer occurs (so the list only
shrinks as defects are fixed). Output: a line per difference, then
`N passed, N failed`.
"""
import re
import socket
import os
import sys

import conversations

# --- reading and tokenising replies --------------------------------------


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buf = b""
        # The URLs of the last * GENURLAUTH, for {URL0}, {URL1}, ... in
        # later steps (each server authorizes with its own token).
        self.urls = []

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def line(self):
        """One response line with its literals, as raw bytes."""
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                self.fill()
            i = self.buf.index(b"\r\n") + 2
            part, self.buf = self.buf[:i], self.buf[i:]
            out += part
            m = re.search(rb"~?\{(\d+)\+?\}\r\n$", part)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self.fill()
            out += self.buf[:n]
            self.buf = self.buf[n:]

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def tokenize(data):
    """Bytes of one response line (with literals) → nested lists of
    tokens: ('atom', b), ('str', b) for quoted strings and literals alike,
    ('nil',), lists for parenthesised and bracketed groups."""
    pos = 0
    stack = [[]]
    n = len(data)
    while pos < n:
        c = data[pos:pos + 1]
        if c in (b" ", b"\r", b"\n"):
            pos += 1
        elif c in (b"(", b"["):
            stack.append([])
            pos += 1
        elif c in (b")", b"]"):
            if len(stack) > 1:
                group = stack.pop()
                stack[-1].append(group if c == b")" else ("code", group))
            pos += 1
        elif c == b'"':
            pos += 1
            s = b""
            while pos < n and data[pos:pos + 1] != b'"':
                if data[pos:pos + 1] == b"\\":
                    pos += 1
                s += data[pos:pos + 1]
                pos += 1
            pos += 1
            stack[-1].append(("str", s))
        elif c in (b"{", b"~"):
            m = re.match(rb"~?\{(\d+)\+?\}\r\n", data[pos:])
            if not m:
                stack[-1].append(("atom", c))
                pos += 1
                continue
            pos += m.end()
            size = int(m.group(1))
            stack[-1].append(("str", data[pos:pos + size]))
            pos += size
        else:
            m = re.match(rb"[^ ()\[\]\r\n]+", data[pos:])
            tok = m.group(0)
            # An atom may carry a bracketed section: BODY[1.MIME]<0>.
            if data[pos + len(tok):pos + len(tok) + 1] == b"[":
                end = data.index(b"]", pos + len(tok)) + 1
                m2 = re.match(rb"<[0-9.]+>", data[end:])
                if m2:
                    end += m2.end()
                tok = data[pos:end]
            pos += len(tok)
            stack[-1].append(("nil",) if tok.upper() == b"NIL" else ("atom", tok))
    while len(stack) > 1:
        group = stack.pop()
        stack[-1].append(group)
    return stack[0]


# --- normalising ---------------------------------------------------------

STATUS = {b"OK", b"NO", b"BAD", b"BYE", b"PREAUTH"}
ID_ITEMS = {b"EMAILID", b"THREADID", b"X-GM-MSGID", b"X-GM-THRID", b"SAVEDATE"}
PLACEHOLDER = ("atom", b"*")
# Keywords Tidings declares in every FLAGS and PERMANENTFLAGS (RFC 9051
# §2.3.2 lists them as defined keywords), whether used or not.
DECLARED = {("atom", b"$Forwarded"), ("atom", b"$Junk")}


def up(tok):
    return tok[1].upper() if isinstance(tok, tuple) and tok[0] == "atom" else None


def norm_code(code):
    """A response code's tokens with the server's own values replaced."""
    name = up(code[0]) if code else None
    if name in (b"UIDVALIDITY", b"HIGHESTMODSEQ", b"NOMODSEQ"):
        return [code[0]] + [PLACEHOLDER] * (len(code) - 1)
    if name in (b"APPENDUID", b"COPYUID"):
        return [code[0], PLACEHOLDER] + code[2:]
    if name == b"PERMANENTFLAGS" and len(code) > 1 and isinstance(code[1], list):
        return [code[0], sorted((f for f in code[1] if f not in DECLARED), key=repr)]
    return code


def norm_fetch(items):
    """FETCH data items as a sorted list of (name, value) pairs."""
    pairs = []
    for i in range(0, len(items) - 1, 2):
        name, value = items[i], items[i + 1]
        key = up(name) or b"?"
        if key in ID_ITEMS or key == b"INTERNALDATE":
            value = PLACEHOLDER
        elif key == b"MODSEQ":
            value = [PLACEHOLDER]
        elif key == b"FLAGS" and isinstance(value, list):
            value = sorted(value, key=repr)
        pairs.append((name, value))
    pairs.sort(key=repr)
    return [t for pair in pairs for t in pair]


URLAUTH_TOKEN = re.compile(rb"(?i):internal:[0-9a-f]{32,}")


def untoken(tok):
    """A URLAUTH verifier (RFC 4467) is the server's own: its token, in any
    string or atom, becomes `*`."""
    if isinstance(tok, list):
        return [untoken(t) for t in tok]
    if isinstance(tok, tuple) and tok[0] in ("atom", "str"):
        return (tok[0], URLAUTH_TOKEN.sub(b":INTERNAL:*", tok[1]))
    if isinstance(tok, tuple) and tok[0] == "code":
        return ("code", untoken(tok[1]))
    return tok


def norm_line(tokens):
    """One response line's tokens, normalised; None to leave it out."""
    tokens = untoken(tokens)
    if not tokens:
        return tokens
    head = tokens[0]
    if head == ("atom", b"+"):
        return [head]  # continuation text differs freely
    second = up(tokens[1]) if len(tokens) > 1 else None
    if second in STATUS:
        out = tokens[:2]
        if len(tokens) > 2 and isinstance(tokens[2], tuple) and tokens[2][0] == "code":
            code = tokens[2][1]
            if up(code[0]) == b"CAPABILITY":
                return out
            # MAILBOXID (RFC 8474 OBJECTID, which this Dovecot lacks), and
            # HIGHESTMODSEQ, which Tidings sends in every SELECT, CONDSTORE
            # enabled or not (RFC 7162 §3.1.2.1 allows it).
            if head == ("atom", b"*") and up(code[0]) in (b"MAILBOXID", b"HIGHESTMODSEQ"):
                return None
            out.append(("code", norm_code(code)))
        return out
    if second == b"FLAGS" and len(tokens) > 2 and isinstance(tokens[2], list):
        return tokens[:2] + [sorted((f for f in tokens[2] if f not in DECLARED), key=repr)]
    if head != ("atom", b"*"):
        return tokens
    if second in (b"CAPABILITY", b"ID", b"NAMESPACE"):
        return None
    third = up(tokens[2]) if len(tokens) > 2 else None
    if third == b"FETCH" and len(tokens) > 3 and isinstance(tokens[3], list):
        return tokens[:3] + [norm_fetch(tokens[3])]
    if second == b"STATUS" and len(tokens) > 3 and isinstance(tokens[3], list):
        items = tokens[3]
        out = []
        for i in range(0, len(items) - 1, 2):
            key = up(items[i])
            value = PLACEHOLDER if key in (b"UIDVALIDITY", b"HIGHESTMODSEQ", b"SIZE") else items[i + 1]
            out.append((key, value))
        return tokens[:3] + [sorted(out, key=repr)]
    if second == b"ESEARCH":
        out = []
        rest = tokens[2:]
        for i, t in enumerate(rest):
            if i > 0 and up(rest[i - 1]) == b"MODSEQ":
                t = PLACEHOLDER
            out.append(t)
        return tokens[:2] + out
    if second in (b"SEARCH", b"SORT") and tokens[-1:] and isinstance(tokens[-1], list) \
            and up(tokens[-1][0]) == b"MODSEQ":
        return tokens[:-1] + [[tokens[-1][0], PLACEHOLDER]]
    return tokens


def show(tok):
    if isinstance(tok, list):
        return "(" + " ".join(show(t) for t in tok) + ")"
    if isinstance(tok, tuple):
        kind = tok[0]
        if kind == "atom":
            return tok[1].decode("utf-8", "replace")
        if kind == "str":
            s = tok[1].decode("utf-8", "replace")
            return '"' + s.replace("\r\n", "\\r\\n") + '"'
        if kind == "nil":
            return "NIL"
        if kind == "code":
            return "[" + " ".join(show(t) for t in tok[1]) + "]"
        return "(" + " ".join(show(t) for t in tok) + ")"
    return repr(tok)


def clip(line, width=2000):
    """Long lines (whole messages) shortened for the report only."""
    return line if len(line) <= width else line[:width] + f"... ({len(line)} chars)"


# --- running conversations ------------------------------------------------


def run_step(conn, tag, step):
    """Sends one step; returns the normalised reply (a list of lines)."""
    def urls(text):
        return re.sub(r"\{URL(\d)\}",
                      lambda m: conn.urls[int(m.group(1))] if int(m.group(1)) < len(conn.urls) else "none",
                      text)
    if isinstance(step, tuple):
        # (command text before the literal, literal bytes[, text after])
        head, literal = urls(step[0]), step[1]
        tail = step[2] if len(step) > 2 else ""
        conn.send(f"{tag} {head}{{{len(literal)}+}}\r\n".encode() + literal + tail.encode() + b"\r\n")
    elif step.startswith("RAW "):
        conn.send(step[4:].encode().replace(b"\\r\\n", b"\r\n"))
    else:
        conn.send(f"{tag} {urls(step)}\r\n".encode())
    lines = []
    while True:
        raw = conn.line()
        tokens = tokenize(raw)
        if tokens[:2] == [("atom", b"*"), ("atom", b"GENURLAUTH")]:
            conn.urls = [t[1].decode() for t in tokens[2:] if isinstance(t, tuple) and t[0] in ("atom", "str")]
        done = tokens and tokens[0] == ("atom", tag.encode())
        if tokens and tokens[0] == ("atom", b"+") and step == "IDLE":
            conn.send(b"DONE\r\n")
        n = norm_line(tokens)
        if n is not None:
            lines.append(n)
        if done:
            break
    tagged = lines[-1:]
    untagged = sorted(lines[:-1], key=repr)
    return [" ".join(show(t) for t in l) for l in untagged + tagged]


def converse(port, user, password, conv):
    conn = Conn(port)
    greeting = conn.line()
    replies = []
    try:
        if conv.get("login", True):
            conn.send(f'l LOGIN "{user}" "{password}"\r\n'.encode())
            while not conn.line().startswith(b"l "):
                pass
        for i, step in enumerate(conv["steps"]):
            try:
                replies.append(run_step(conn, f"t{i}", step))
            except (EOFError, OSError) as e:
                replies.append([f"<{type(e).__name__}>"])
                break
    finally:
        conn.close()
    return greeting, replies


def main():
    tport, dport, user, password, expected_file = sys.argv[1:6]
    only = sys.argv[6] if len(sys.argv) > 6 else None
    expected = {}
    for line in open(expected_file, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, reason = line.partition(" ")
            expected[key] = reason
    passed = failed = 0
    seen = set()
    for conv in conversations.CONVERSATIONS:
        if only and conv["name"] != only:
            continue
        _, t = converse(int(tport), user, password, conv)
        _, d = converse(int(dport), user, password, conv)
        for i, step in enumerate(conv["steps"]):
            key = f"{conv['name']}/{i}"
            tr = t[i] if i < len(t) else ["<not run>"]
            dr = d[i] if i < len(d) else ["<not run>"]
            cmd = step if isinstance(step, str) else step[0] + "{literal}"
            # IMAP_DIFF_SHOW=conversation/step (or a prefix) prints both
            # normalised replies, agreeing or not: for looking, not testing.
            show = os.environ.get("IMAP_DIFF_SHOW")
            if show and key.startswith(show):
                print(f"SHOW {key}: {cmd}")
                for l in tr:
                    print(f"    tidings: {clip(l)}")
                for l in dr:
                    print(f"    dovecot: {clip(l)}")
            if tr == dr:
                if key in expected:
                    failed += 1
                    print(f"STALE {key}: listed as a difference but both servers now agree: {cmd}")
                else:
                    passed += 1
                continue
            seen.add(key)
            if key in expected:
                passed += 1
                continue
            failed += 1
            print(f"DIFF {key}: {cmd}")
            for l in tr:
                print(f"    {'tidings' if l not in dr else '  both '}: {clip(l)}")
            for l in dr:
                if l not in tr:
                    print(f"    dovecot: {clip(l)}")
    for key in expected:
        name = key.split("/")[0]
        if key not in seen and (not only or name == only) and \
                not any(key == f"{c['name']}/{i}" for c in conversations.CONVERSATIONS for i in range(len(c["steps"]))):
            failed += 1
            print(f"STALE {key}: no such step")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
