#!/usr/bin/env python3
"""Third-party views of mail for tests/import_export.rs: Python's `mailbox`
module writes and reads mbox files and maildirs, `imaplib` fills and reads
IMAP servers (Tidings and Dovecot alike).

  mbox-write FILE                  an mbox with quoting, flags and dates
  mbox-compare A B                 the messages of A and B are the same:
                                   bytes (less the flag fields), flags, dates
  maildir-dump DIR                 one line per message of a Maildir++ tree
  imap-fill HOST PORT USER PASS N [FIRST]
                                   folders and N messages with flags and dates
  imap-fill-corpus HOST PORT USER PASS DIR
                                   every message of the SpamAssassin corpus
                                   (scripts/fetch-corpus) in a folder per
                                   group, with flags and dates; prints how
                                   many the server took
  imap-dump HOST PORT USER PASS    one line per message of every mailbox

A dump line is: mailbox, flags (sorted), INTERNALDATE (Unix seconds), the
SHA-256 of the bytes, tab-separated; lines are sorted.
"""
import datetime
import email.utils
import hashlib
import imaplib
import mailbox
import os
import random
import re
import sys
import time

FLAG_FIELDS = (b"status:", b"x-status:", b"x-keywords:")


def without_flag_fields(raw):
    """The message less its Status/X-Status/X-Keywords header lines."""
    head, sep, body = raw.partition(b"\n\n")
    lines = [l for l in head.split(b"\n") if not l.lower().startswith(FLAG_FIELDS)]
    return b"\n".join(lines) + sep + body


def sample_message(i, crlf=False):
    """A varied, realistic message: plain, 8-bit, multipart, `From ` lines."""
    date = email.utils.format_datetime(
        datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
        + datetime.timedelta(hours=7 * i)
    )
    kind = i % 4
    head = (
        f"From: Sender {i} <sender{i}@example.org>\n"
        f"To: bob@localhost\n"
        f"Subject: message {i}\n"
        f"Date: {date}\n"
        f"Message-ID: <m{i}@example.org>\n"
    )
    if kind == 0:
        text = head + f"\nHello {i}.\nFrom the start of a line.\n>From a quoted line.\n>>From twice.\n"
    elif kind == 1:
        text = (
            head
            + "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            + "Content-Transfer-Encoding: 8bit\n\nGrüße, café — ünïcödé\n"
        )
    elif kind == 2:
        text = (
            head
            + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
            + "--b\nContent-Type: text/plain\n\nSee attached.\n"
            + "--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
            + "AAECAwQFBgcICQ==\n--b--\n"
        )
    else:
        text = head + "\n" + "".join(f"line {n} of a longer body\n" for n in range(200))
    raw = text.encode("utf-8")
    return raw.replace(b"\n", b"\r\n") if crlf else raw


MBOX_FLAGS = ["", "R", "RO", "F", "RA", "RFA", "D", "O"]


def mbox_write(path):
    box = mailbox.mbox(path, create=True)
    for i in range(24):
        msg = mailbox.mboxMessage(sample_message(i))
        msg.set_from(f"sender{i}@example.org", time.gmtime(1_600_000_000 + 86_400 * i + i))
        msg.set_flags(MBOX_FLAGS[i % len(MBOX_FLAGS)])
        box.add(msg)
    box.flush()
    box.close()


def mbox_compare(a_path, b_path):
    a, b = mailbox.mbox(a_path), mailbox.mbox(b_path)
    ak, bk = a.keys(), b.keys()
    assert len(ak) == len(bk), f"{len(ak)} messages in {a_path}, {len(bk)} in {b_path}"
    for n, (i, j) in enumerate(zip(ak, bk)):
        ra, rb = a.get_bytes(i), b.get_bytes(j)
        assert without_flag_fields(ra) == without_flag_fields(rb), (
            f"message {n} differs:\n{ra!r}\n{rb!r}"
        )
        ma, mb = a.get_message(i), b.get_message(j)
        fa, fb = set(ma.get_flags()) - {"O"}, set(mb.get_flags()) - {"O"}
        assert fa == fb, f"message {n}: flags {fa} became {fb}"
        da = time.strptime(" ".join(ma.get_from().split()[1:]), "%a %b %d %H:%M:%S %Y")
        db = time.strptime(" ".join(mb.get_from().split()[1:]), "%a %b %d %H:%M:%S %Y")
        assert da == db, f"message {n}: date {da} became {db}"
    print(f"ok {len(ak)} messages")


MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "P": "$Forwarded", "R": "\\Answered",
                 "S": "\\Seen", "T": "\\Deleted"}


def maildir_dump(root):
    lines = []

    def folder(md, name, path):
        letters = {}
        kw = os.path.join(path, "dovecot-keywords")
        if os.path.exists(kw):
            for line in open(kw):
                n, k = line.split(" ", 1)
                letters[chr(ord("a") + int(n))] = k.strip()
        for key in md.keys():
            msg = md.get_message(key)
            flags = [MAILDIR_FLAGS[c] for c in msg.get_flags() if c in MAILDIR_FLAGS]
            flags += [letters[c] for c in msg.get_flags() if c in letters]
            raw = md.get_bytes(key)
            lines.append("\t".join([name, " ".join(sorted(flags)), str(int(msg.get_date())),
                                    hashlib.sha256(raw).hexdigest()]))

    top = mailbox.Maildir(root, factory=None, create=False)
    folder(top, "INBOX", root)
    for name in top.list_folders():
        folder(top.get_folder(name), name.replace(".", "/"), os.path.join(root, "." + name))
    print("\n".join(sorted(lines)))


def imap_login(host, port, user, password):
    imap = imaplib.IMAP4(host, int(port))
    imap.login(user, password)
    return imap


def imap_fill(host, port, user, password, count, first="0"):
    imap = imap_login(host, port, user, password)
    # "Archiv/Grüße" in modified UTF-7 (RFC 3501 §5.1.3).
    folders = ["INBOX", "Work", "Work/Reports", "Sent", "Lists", "Archiv/Gr&APwA3w-e"]
    for f in folders[1:]:
        imap.create(f)  # NO when it exists already
    flag_sets = ["", "\\Seen", "\\Seen \\Flagged", "\\Answered \\Seen", "$Label1",
                 "\\Draft", "\\Seen $Forwarded Work"]
    rng = random.Random(7 + int(first))
    for i in range(int(first), int(first) + int(count)):
        # Most in INBOX, so that one folder spans several fetches and batches.
        folder = folders[(i // 4) % len(folders)] if i % 4 == 0 else "INBOX"
        flags = flag_sets[i % len(flag_sets)]
        # Dates in several zones, whole seconds.
        zone = datetime.timezone(datetime.timedelta(hours=rng.choice([-7, 0, 1, 5.5])))
        when = datetime.datetime.fromtimestamp(1_500_000_000 + rng.randrange(10**8), zone)
        date = imaplib.Time2Internaldate(when)
        typ, data = imap.append(folder, f"({flags})" if flags else None, date,
                                sample_message(i, crlf=True))
        assert typ == "OK", data
    imap.logout()


def imap_fill_corpus(host, port, user, password, root):
    """Real messages: each group of the corpus in its own folder, CRLF line
    ends (IMAP's), flags varied, INTERNALDATE from the Date field when it
    parses (old, odd and missing dates alike)."""
    imap = imap_login(host, port, user, password)
    folders = {"easy-ham-1": "INBOX", "easy-ham-2": "Ham/Easy 2", "hard-ham-1": "Ham/Hard",
               "spam-1": "Caught/One", "spam-2": "Caught/Two"}
    flag_sets = ["", "\\Seen", "\\Seen \\Flagged", "\\Answered \\Seen", "$Label1 \\Seen",
                 "$NotJunk"]
    taken = refused = 0
    for group, folder in sorted(folders.items()):
        if folder != "INBOX":
            imap.create(f'"{folder}"')
        files = sorted(os.listdir(os.path.join(root, group)))
        files = [f for f in files if f.endswith(".eml")]
        assert files, f"no messages in {root}/{group}: run scripts/fetch-corpus"
        for i, name in enumerate(files):
            with open(os.path.join(root, group, name), "rb") as f:
                raw = f.read()
            raw = re.sub(rb"\r?\n", b"\r\n", raw)
            flags = flag_sets[i % len(flag_sets)]
            date = None
            head = raw.split(b"\r\n\r\n", 1)[0]
            m = re.search(rb"^Date:[ \t]*(.*)$", head, re.M | re.I)
            if m:
                try:
                    when = email.utils.parsedate_to_datetime(m.group(1).decode("latin-1").strip())
                    if when.tzinfo is not None and 1980 < when.year < 2038:
                        date = imaplib.Time2Internaldate(when.replace(microsecond=0))
                except (TypeError, ValueError, IndexError, OverflowError):
                    pass
            typ, data = imap.append(f'"{folder}"', f"({flags})" if flags else None, date, raw)
            if typ == "OK":
                taken += 1
            else:
                refused += 1
    imap.logout()
    print(taken, refused)


def imap_dump(host, port, user, password):
    imap = imap_login(host, port, user, password)
    typ, listing = imap.list('""', "*")
    assert typ == "OK", listing
    lines = []
    for item in listing:
        m = re.match(rb'\((.*?)\) (?:"(?:\\.|[^"])*"|NIL) (.*)$', item)
        assert m, item
        attrs, name = m.group(1).decode().lower(), m.group(2).decode()
        if "\\noselect" in attrs or "\\all" in attrs or "\\flagged" in attrs:
            continue
        name = name[1:-1] if name.startswith('"') else name
        typ, _ = imap.select(f'"{name}"', readonly=True)
        assert typ == "OK", name
        typ, data = imap.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        assert typ == "OK", data
        for part in data:
            if not isinstance(part, tuple):
                continue
            head, raw = part
            flags = re.search(rb"FLAGS \((.*?)\)", head).group(1).decode().split()
            flags = [f for f in flags if f != "\\Recent"]
            when = re.search(rb'INTERNALDATE "(.*?)"', head).group(1).decode().strip()
            epoch = int(datetime.datetime.strptime(when, "%d-%b-%Y %H:%M:%S %z").timestamp())
            lines.append("\t".join([name, " ".join(sorted(flags)), str(epoch),
                                    hashlib.sha256(raw).hexdigest()]))
    imap.logout()
    print("\n".join(sorted(lines)))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"mbox-write": mbox_write, "mbox-compare": mbox_compare, "maildir-dump": maildir_dump,
     "imap-fill": imap_fill, "imap-fill-corpus": imap_fill_corpus,
     "imap-dump": imap_dump}[cmd](*args)
