"""Fills a Tidings server with mail over its protocols, and dumps what an
IMAP client sees, so that a data dir made by an old release can be checked
after the new binary opened (and migrated) it.

  python3 datadir.py fill SMTP_PORT IMAP_PORT      (old binary running)
  python3 datadir.py dump IMAP_PORT > expected.json
  python3 datadir.py compare IMAP_PORT expected.json  (new binary running)

Used by crates/server/tests/upgrade.rs; see upgrade/README.md for how the
fixture was made.
"""
import hashlib
import imaplib
import json
import smtplib
import sys

USERS = {"alice@example.org": "alice old password", "bob@example.org": "bob old password"}


def message(i, extra=b""):
    return (b"From: Carol <carol@example.net>\r\nTo: alice@example.org\r\n"
            b"Subject: message %d\r\nMessage-ID: <m%d@example.net>\r\n"
            b"Date: Tue, 1 Dec 2026 10:%02d:00 +0000\r\n\r\nBody of message %d.\r\n" % (i, i, i, i)) + extra


def attachment():
    blob = bytes(range(256)) * 400  # 100 KiB: a blob file, not inline
    import base64
    b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    return (b"From: carol@example.net\r\nTo: alice@example.org\r\nSubject: with attachment\r\n"
            b"Message-ID: <att@example.net>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
            b"Content-Type: text/plain\r\n\r\nSee attached.\r\n--b1\r\n"
            b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--b1--\r\n")


def fill(smtp_port, imap_port):
    with smtplib.SMTP("127.0.0.1", smtp_port) as s:
        for i in range(1, 6):
            s.sendmail("carol@example.net", ["alice@example.org"], message(i))
        s.sendmail("carol@example.net", ["alice@example.org", "bob@example.org"], attachment())
    im = imaplib.IMAP4("127.0.0.1", imap_port)
    im.login("alice@example.org", USERS["alice@example.org"])
    for box in ("Projects", "Projects/2026", "Receipts"):
        assert im.create(box)[0] == "OK", box
    im.subscribe("Projects")
    im.subscribe("Projects/2026")
    im.select("INBOX")
    im.store("1", "+FLAGS", "(\\Seen)")
    im.store("2", "+FLAGS", "(\\Flagged $Label1)")
    im.store("3", "+FLAGS", "(\\Answered \\Seen)")
    im.copy("2:3", "Projects")
    im.store("4", "+FLAGS", "(\\Deleted)")
    im.expunge()
    im.append("Projects/2026", "(\\Seen \\Draft)", '"01-Dec-2026 12:00:00 +0100"', message(9, b"Draft text.\r\n"))
    im.append("Receipts", "(NewKeyword)", None, message(10))
    im.logout()
    im = imaplib.IMAP4("127.0.0.1", imap_port)
    im.login("bob@example.org", USERS["bob@example.org"])
    im.select("INBOX")
    im.store("1", "+FLAGS", "(\\Seen)")
    im.logout()


def dump(imap_port):
    out = {}
    for user, password in sorted(USERS.items()):
        im = imaplib.IMAP4("127.0.0.1", imap_port)
        im.login(user, password)
        typ, boxes = im.list()
        assert typ == "OK", boxes
        names = sorted(b.decode().rsplit(' "/" ', 1)[1].strip('"') for b in boxes)
        typ, subs = im.lsub()
        subscribed = sorted(b.decode().rsplit(' "/" ', 1)[1].strip('"') for b in subs if b)
        mailboxes = {}
        for name in names:
            typ, _ = im.select('"%s"' % name, readonly=True)
            if typ != "OK":
                continue
            validity = im.response("UIDVALIDITY")[1][0].decode()
            typ, data = im.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
            messages = []
            for item in data:
                if not isinstance(item, tuple):
                    continue
                head = item[0].decode()
                uid = int(head.split("UID ")[1].split()[0])
                flags = sorted(f for f in head.split("FLAGS (")[1].split(")")[0].split() if f != "\\Recent")
                date = head.split('INTERNALDATE "')[1].split('"')[0]
                messages.append({"uid": uid, "flags": flags, "internaldate": date,
                                 "sha256": hashlib.sha256(item[1]).hexdigest(), "size": len(item[1])})
            mailboxes[name] = {"uidvalidity": validity, "messages": sorted(messages, key=lambda m: m["uid"])}
        im.logout()
        out[user] = {"subscribed": subscribed, "mailboxes": mailboxes}
    return out


if __name__ == "__main__":
    if sys.argv[1] == "fill":
        fill(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "dump":
        json.dump(dump(int(sys.argv[2])), sys.stdout, indent=1, sort_keys=True)
        print()
    elif sys.argv[1] == "compare":
        got = dump(int(sys.argv[2]))
        want = json.load(open(sys.argv[3]))
        if got != want:
            import difflib
            diff = difflib.unified_diff(
                json.dumps(want, indent=1, sort_keys=True).splitlines(),
                json.dumps(got, indent=1, sort_keys=True).splitlines(),
                "expected (old release)", "now", lineterm="")
            sys.exit("what IMAP shows differs:\n" + "\n".join(diff))
