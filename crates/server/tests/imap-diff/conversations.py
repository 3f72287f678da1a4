"""The conversations diff.py runs against both servers. Each is a dict:
`name` (unique), `steps` (a command without its tag; or a tuple
(text before a literal, literal bytes[, text after]) sent with LITERAL+;
or "RAW ..." bytes sent as they are, `\\r\\n` written out), and optionally
`login: False` to start in the not-authenticated state.

Conversations run in order on one user; each makes and removes its own
mailboxes (named after the conversation) so that later ones start from the
same state on both servers. Messages are fixed bytes, so ENVELOPE,
BODYSTRUCTURE, sections and sizes must agree exactly.
"""

SIMPLE = (b"From: Ann Example <ann@example.org>\r\nTo: Bob <bob@localhost>\r\n"
          b"Subject: lunch?\r\nDate: Wed, 4 Mar 2026 12:00:00 +0000\r\n"
          b"Message-ID: <simple@example.org>\r\n\r\nPizza at noon.\r\nOr sushi.\r\n")

GROUP = (b"From: \"Carol, the Boss\" <carol@example.net>\r\n"
         b"To: team: a@example.org, \"B\" <b@example.org>;, solo@example.org\r\n"
         b"Cc: undisclosed-recipients:;\r\n"
         b"Subject: =?utf-8?q?caf=C3=A9?= plans\r\nDate: Thu, 5 Mar 2026 09:30:00 -0500\r\n"
         b"Message-ID: <group@example.net>\r\nIn-Reply-To: <simple@example.org>\r\n"
         b"References: <simple@example.org>\r\n\r\nSee you.\r\n")

MULTI = (b"From: ann@example.org\r\nTo: bob@localhost\r\nSubject: report\r\n"
         b"Date: Fri, 6 Mar 2026 08:00:00 +0100\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
         b"preamble\r\n--outer\r\n"
         b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
         b"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
         b"Caf=C3=A9 and =3D signs, a soft=\r\n break.\r\n"
         b"--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
         b"<p>Caf\xc3\xa9</p>\r\n--inner--\r\n"
         b"--outer\r\nContent-Type: application/octet-stream; name=\"d.bin\"\r\n"
         b"Content-Transfer-Encoding: base64\r\n"
         b"Content-Disposition: attachment; filename=\"d.bin\"\r\n"
         b"Content-ID: <part3@example.org>\r\nContent-Description: some bytes\r\n\r\n"
         b"AAECAwQFBgcICQ==\r\n"
         b"--outer\r\nContent-Type: message/rfc822\r\n\r\n"
         b"From: dan@example.com\r\nTo: ann@example.org\r\nSubject: inner one\r\n"
         b"Date: Mon, 2 Mar 2026 07:00:00 +0000\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=in2\r\n\r\n"
         b"--in2\r\nContent-Type: text/plain\r\n\r\nInner text.\r\n"
         b"--in2\r\nContent-Type: text/plain; name=x.txt\r\n\r\nSecond.\r\n--in2--\r\n"
         b"\r\n--outer--\r\nepilogue\r\n")

SECTIONS = ["BODY[]", "BODY[HEADER]", "BODY[TEXT]", "BODY[1]", "BODY[1.1]", "BODY[1.2]",
            "BODY[1.MIME]", "BODY[2]", "BODY[2.MIME]", "BODY[3]", "BODY[3.HEADER]",
            "BODY[3.TEXT]", "BODY[3.1]", "BODY[3.2]", "BODY[3.1.MIME]",
            "BODY[HEADER.FIELDS (SUBJECT FROM)]", "BODY[HEADER.FIELDS.NOT (SUBJECT)]",
            "BODY[3.HEADER.FIELDS (SUBJECT)]", "BODY[]<5.10>", "BODY[1.1]<0.4>",
            "BODY[4]", "BODY[1.3]", "BINARY[1.1]", "BINARY.SIZE[1.1]", "BINARY[2]",
            "BINARY.SIZE[2]", "BINARY[1.2]"]

CONVERSATIONS = [
    {
        "name": "not-authenticated",
        "login": False,
        "steps": [
            "NOOP",
            "SELECT INBOX",
            "LIST \"\" \"*\"",
            "LOGIN nosuchuser@localhost wrong",
            "FOO",
            "LOGOUT",
        ],
    },
    {
        "name": "append-and-fetch",
        "steps": [
            "CREATE diff1",
            ("APPEND diff1 (\\Seen $Label1) \"04-Mar-2026 12:00:00 +0000\" ", SIMPLE),
            ("APPEND diff1 () ", GROUP),
            ("APPEND diff1 (\\Flagged) ", MULTI),
            "SELECT diff1",
            "FETCH 1:* (UID FLAGS RFC822.SIZE)",
            "FETCH 1:* ENVELOPE",
            "FETCH 1:* BODYSTRUCTURE",
            "FETCH 1:* BODY",
            "FETCH 3 (" + " ".join(s.replace("BODY[", "BODY.PEEK[") for s in SECTIONS[:21]) + ")",
            "FETCH 3 (" + " ".join(SECTIONS[21:]) + ")",
            "FETCH 1 (RFC822.HEADER RFC822.TEXT)",
            "FETCH 2 RFC822",
            "FETCH 1:* FLAGS",
            "FETCH 1:3 FAST",
            "FETCH 2 ALL",
            "FETCH 4 FLAGS",
            "FETCH 0 FLAGS",
            "FETCH 1 (BODY[99])",
            "FETCH 1 (FLAGS",
            "UID FETCH 1:* (FLAGS)",
            "UID FETCH 100:* (FLAGS)",
            # RFC 8970 PREVIEW
            "FETCH 1:3 (PREVIEW)",
            "FETCH 3 (PREVIEW (LAZY) UID)",
            "FETCH 1 (PREVIEW (BOGUS))",
            "CLOSE",
            "DELETE diff1",
        ],
    },
    {
        "name": "flags-and-keywords",
        "steps": [
            "CREATE diff2",
            ("APPEND diff2 () ", SIMPLE),
            ("APPEND diff2 () ", GROUP),
            "SELECT diff2",
            "STORE 1 +FLAGS (\\Seen)",
            "STORE 1 +FLAGS.SILENT (\\Answered)",
            "STORE 1:2 FLAGS (\\Draft NewKw)",
            "STORE 2 -FLAGS (NewKw)",
            "FETCH 1:2 FLAGS",
            "STORE 1 +FLAGS (\\Recent)",
            "STORE 1 +FLAGS (\\Bogus)",
            "STORE 1 +FLAGS (Another)",
            "UID STORE 1:* +FLAGS.SILENT (\\Deleted)",
            "EXPUNGE",
            "STATUS diff2 (MESSAGES UIDNEXT UNSEEN)",
            "CLOSE",
            "DELETE diff2",
        ],
    },
    {
        "name": "search",
        "steps": [
            "CREATE diff3",
            ("APPEND diff3 (\\Seen) \"04-Mar-2026 12:00:00 +0000\" ", SIMPLE),
            ("APPEND diff3 (\\Flagged) \"05-Mar-2026 12:00:00 +0000\" ", GROUP),
            ("APPEND diff3 () \"06-Mar-2026 12:00:00 +0000\" ", MULTI),
            "SELECT diff3",
            "SEARCH ALL",
            "SEARCH SEEN",
            "SEARCH UNSEEN",
            "SEARCH FLAGGED",
            "SEARCH NOT FLAGGED",
            "SEARCH OR SEEN FLAGGED",
            "SEARCH FROM ann",
            "SEARCH TO solo@example.org",
            "SEARCH CC undisclosed",
            "SEARCH SUBJECT report",
            "SEARCH HEADER Message-ID simple",
            "SEARCH HEADER X-Missing \"\"",
            "SEARCH LARGER 500",
            "SEARCH SMALLER 500",
            "SEARCH BEFORE 05-Mar-2026",
            "SEARCH SINCE 05-Mar-2026",
            "SEARCH ON 05-Mar-2026",
            "SEARCH SENTBEFORE 05-Mar-2026",
            "SEARCH SENTSINCE 05-Mar-2026",
            "SEARCH UID 2:*",
            "SEARCH 2:3",
            "SEARCH KEYWORD $Label1",
            "SEARCH UNKEYWORD $Label1",
            "SEARCH NEW",
            "SEARCH OLD",
            "SEARCH RECENT",
            "SEARCH ANSWERED",
            "SEARCH DELETED",
            "SEARCH UNDELETED",
            "SEARCH DRAFT",
            "SEARCH CHARSET UTF-8 ALL",
            "SEARCH CHARSET BOGUS ALL",
            "SEARCH RETURN (MIN MAX COUNT) ALL",
            "SEARCH RETURN (ALL) SEEN",
            "SEARCH RETURN () FLAGGED",
            "UID SEARCH RETURN (COUNT) ALL",
            "SEARCH BOGUSKEY",
            "SEARCH (SEEN FLAGGED)",
            "SEARCH NOT (SEEN)",
            "CLOSE",
            "DELETE diff3",
        ],
    },
    {
        "name": "mailboxes",
        # Every level is created explicitly and subscriptions are set
        # explicitly: how a server makes missing parents (RFC 3501 §6.3.3
        # leaves it open) and whether CREATE subscribes are not compared.
        "steps": [
            "CREATE diff4",
            "CREATE diff4/a",
            "CREATE diff4/a/b",
            "CREATE diff4/c/",
            "CREATE diff4",
            "CREATE INBOX",
            "LIST \"\" diff4",
            "LIST \"\" diff4/%",
            "LIST \"\" diff4/*",
            "LIST \"diff4/\" %",
            "LIST \"\" \"\"",
            "SUBSCRIBE diff4",
            "SUBSCRIBE diff4/a",
            "SUBSCRIBE diff4/a/b",
            "SUBSCRIBE diff4/c",
            "UNSUBSCRIBE diff4/a",
            "UNSUBSCRIBE diff4",
            "LSUB \"\" diff4*",
            "LSUB \"\" diff4/%",
            "LIST (SUBSCRIBED) \"\" diff4*",
            "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" diff4/%",
            "LIST (RECURSIVEMATCH) \"\" diff4*",
            "LIST \"\" diff4* RETURN (CHILDREN)",
            "LIST \"\" diff4/a RETURN (STATUS (MESSAGES UIDNEXT))",
            "RENAME diff4/c diff4/d",
            "RENAME diff4/nosuch diff4/e",
            "RENAME diff4/d diff4/a",
            "LIST \"\" diff4*",
            "STATUS diff4/a/b (MESSAGES RECENT UIDNEXT UNSEEN)",
            "STATUS diff4/nosuch (MESSAGES)",
            "SELECT diff4/nosuch",
            "EXAMINE diff4/a/b",
            "UNSUBSCRIBE diff4/a/b",
            "UNSUBSCRIBE diff4/d",
            "UNSUBSCRIBE diff4/c",
            "LSUB \"\" diff4*",
            "LIST (SUBSCRIBED) \"\" diff4*",
            "CREATE \"&Jjo-!\"",
            "CREATE \"bad&name\"",
            "LIST \"\" \"bad&name%*\"",
            "DELETE \"&Jjo-!\"",
            # Not deleted further: Dovecot 2.3.19's imap process dies on a
            # DELETE of diff4/d or diff4/a here (Maildir LAYOUT=fs).
            "DELETE diff4/a/b",
        ],
    },
    {
        "name": "copy-move-expunge",
        "steps": [
            "CREATE diff5a",
            "CREATE diff5b",
            ("APPEND diff5a () ", SIMPLE),
            ("APPEND diff5a () ", GROUP),
            ("APPEND diff5a () ", MULTI),
            "SELECT diff5a",
            "COPY 1 diff5b",
            "COPY 1 diff5nosuch",
            "MOVE 2 diff5b",
            "UID MOVE 3 diff5b",
            "FETCH 1:* (UID FLAGS)",
            "STATUS diff5b (MESSAGES UIDNEXT)",
            "SELECT diff5b",
            "FETCH 1:* (UID RFC822.SIZE)",
            "STORE 2,4 +FLAGS.SILENT (\\Deleted)",
            "UID EXPUNGE 1:2",
            "EXPUNGE",
            "FETCH 1:* UID",
            # A second copy of the same message: Tidings' mailboxes are labels
            # (one entry per message and mailbox), Dovecot's are folders.
            "COPY 1 diff5a",
            "UNSELECT",
            "DELETE diff5a",
            "DELETE diff5b",
        ],
    },
    {
        "name": "condstore",
        "steps": [
            "ENABLE CONDSTORE",
            "CREATE diff6",
            ("APPEND diff6 () ", SIMPLE),
            ("APPEND diff6 () ", GROUP),
            "SELECT diff6 (CONDSTORE)",
            "FETCH 1:* (FLAGS MODSEQ)",
            "STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Seen)",
            "FETCH 1:* (FLAGS) (CHANGEDSINCE 1)",
            "SEARCH MODSEQ 1",
            "STATUS diff6 (HIGHESTMODSEQ MESSAGES)",
            "CLOSE",
            "DELETE diff6",
        ],
    },
    {
        "name": "sort-thread",
        "steps": [
            "CREATE diff7",
            ("APPEND diff7 () ", SIMPLE),
            ("APPEND diff7 () ", GROUP),
            ("APPEND diff7 () ", MULTI),
            "SELECT diff7",
            "SORT (SUBJECT) UTF-8 ALL",
            "SORT (REVERSE DATE) UTF-8 ALL",
            "SORT (FROM) UTF-8 ALL",
            "SORT (SIZE) US-ASCII ALL",
            "SORT (ARRIVAL) UTF-8 ALL",
            "SORT (DISPLAYFROM) UTF-8 ALL",
            "UID SORT (TO) UTF-8 ALL",
            "SORT (BOGUS) UTF-8 ALL",
            "THREAD REFERENCES UTF-8 ALL",
            "THREAD ORDEREDSUBJECT UTF-8 ALL",
            "UID THREAD REFERENCES UTF-8 ALL",
            "THREAD BOGUS UTF-8 ALL",
            "CLOSE",
            "DELETE diff7",
        ],
    },
    {
        "name": "selected-state-errors",
        "steps": [
            "FETCH 1 FLAGS",
            "STORE 1 +FLAGS (\\Seen)",
            "EXPUNGE",
            "CLOSE",
            "EXAMINE INBOX",
            "STORE 1 +FLAGS (\\Seen)",
            "EXPUNGE",
            "CHECK",
            "NOOP",
            "IDLE",
            "UNSELECT",
            "UNSELECT",
        ],
    },
    {
        "name": "status-and-extensions",
        "steps": [
            "CREATE diff8",
            ("APPEND diff8 (\\Seen) ", SIMPLE),
            ("APPEND diff8 () ", GROUP),
            "STATUS diff8 (MESSAGES UIDNEXT UNSEEN)",
            "STATUS diff8 (MESSAGES RECENT)",
            "STATUS diff8 (SIZE)",
            "STATUS diff8 ()",
            "STATUS diff8 (BOGUS)",
            "STATUS diff8 MESSAGES",
            "NAMESPACE",
            "ENABLE BOGUS",
            "ENABLE QRESYNC",
            "SELECT diff8 (QRESYNC (1 1))",
            "FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
            "STORE 2 +FLAGS.SILENT (\\Deleted)",
            "EXPUNGE",
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
            "SEARCH RETURN (COUNT) ALL",
            "UID SEARCH RETURN (SAVE) ALL",
            "FETCH $ (UID)",
            "UID SEARCH UID $",
            "EXAMINE diff8",
            "UNSELECT",
            "DELETE diff8",
        ],
    },
    {
        "name": "append-edge-cases",
        "steps": [
            "CREATE diff9",
            ("APPEND diff9 ", SIMPLE),
            ("APPEND diff9 (\\Seen \\Draft) ", SIMPLE),
            ("APPEND diff9 \"01-Jan-2020 00:00:00 +0000\" ", SIMPLE),
            ("APPEND diff9 () ", b"no header at all"),
            ("APPEND diff9 () ", b"Subject: only\r\n"),
            "SELECT diff9",
            "FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)",
            "FETCH 1:* (BODYSTRUCTURE ENVELOPE)",
            "FETCH 4:* (BODY[] BODY[HEADER] BODY[TEXT])",
            "CLOSE",
            "DELETE diff9",
        ],
    },
    {
        "name": "syntax-errors",
        "steps": [
            "CREATE",
            "CREATE a b",
            "LIST \"\"",
            "SELECT",
            "SELECT \"unterminated",
            "STATUS INBOX",
            "RENAME INBOX",
            "SUBSCRIBE",
            "EXAMINE INBOX",
            "FETCH",
            "FETCH 1",
            "FETCH * (FLAGS)",
            "FETCH 1:* BOGUS",
            "FETCH 1:* (FLAGS BOGUS)",
            "FETCH 1:* BODY[",
            "FETCH 1:* BODY[HEADER.FIELDS]",
            "FETCH x FLAGS",
            "STORE 1 FLAGS",
            "STORE 1 BOGUS (\\Seen)",
            "SEARCH",
            "SEARCH UID",
            "SEARCH SINCE notadate",
            "SEARCH LARGER x",
            "COPY",
            "UID",
            "UID BOGUS 1",
            "CHECK extra",
            "NOOP extra",
            "CLOSE",
            "LOGOUT extra",
        ],
    },
    {
        "name": "sequence-sets",
        "steps": [
            "CREATE diff10",
            ("APPEND diff10 () ", SIMPLE),
            ("APPEND diff10 () ", GROUP),
            ("APPEND diff10 () ", MULTI),
            "SELECT diff10",
            "FETCH 3:1 UID",
            "FETCH 1,3 UID",
            "FETCH 2:* UID",
            "FETCH *:2 UID",
            "FETCH * UID",
            "FETCH 1,1,1 UID",
            "FETCH 4 UID",
            "FETCH 1:4 UID",
            "UID FETCH 2:* UID",
            "UID FETCH *:2 UID",
            "UID FETCH 4:5 UID",
            "UID FETCH 99 UID",
            "UID STORE 99 +FLAGS (\\Seen)",
            "UID COPY 99 diff10",
            "UID SEARCH UID 99",
            "UID SEARCH UID 1:*",
            "SEARCH 4",
            "SEARCH *",
            "SEARCH 2:*",
            "CLOSE",
            "DELETE diff10",
        ],
    },
    {
        # Each on its own connection: a server that refuses the command
        # before its literal (BAD) reads the literal's lines as commands.
        "name": "append-bad-flag",
        "steps": [("APPEND INBOX (\\Bogus) ", SIMPLE)],
    },
    {
        "name": "append-bad-date",
        "steps": [("APPEND INBOX () \"31-Feb-2020 00:00:00 +0000\" ", SIMPLE)],
    },
    {
        "name": "append-not-a-date",
        "steps": [("APPEND INBOX () \"bad date\" ", SIMPLE)],
    },
    {
        "name": "append-no-such-mailbox",
        "steps": [("APPEND diff9nosuch () ", SIMPLE)],
    },
    {
        "name": "append-empty",
        "steps": [("APPEND INBOX () ", b"")],
    },
    {
        "name": "append-recent-flag",
        "steps": [("APPEND INBOX (\\Recent) ", SIMPLE), "NOOP"],
    },
    {
        "name": "metadata",
        # RFC 5464: server entries (mailbox "") and a mailbox's.
        "steps": [
            "CREATE diff9",
            "GETMETADATA \"\" /shared/comment",
            "SETMETADATA \"\" (/shared/comment \"Server note\")",
            "GETMETADATA \"\" /shared/comment",
            "SETMETADATA \"\" (/private/vendor/tidings/x \"mine\")",
            "GETMETADATA \"\" /private/vendor/tidings/x",
            "SETMETADATA diff9 (/private/comment \"mine\" /shared/vendor/x/a \"1\" /shared/vendor/x/a/b \"2\")",
            "GETMETADATA diff9 (/private/comment /shared/vendor/x/a)",
            "GETMETADATA (DEPTH 1) diff9 /shared/vendor/x",
            # (DEPTH infinity is left to tests/imap.rs: Dovecot's order of
            # several entries in one reply varies from run to run.)
            "GETMETADATA (MAXSIZE 0) diff9 /private/comment",
            "GETMETADATA diff9 /PRIVATE/Comment",
            "SETMETADATA diff9 (/private/comment NIL)",
            "GETMETADATA diff9 /private/comment",
            "GETMETADATA nosuchbox /private/comment",
            "SETMETADATA diff9 (/other/x \"1\")",
            "GETMETADATA diff9 /shared/a*",
            ("SETMETADATA diff9 (/shared/comment ", b"hello", ")"),
            "GETMETADATA diff9 /shared/comment",
            "GETMETADATA (DEPTH 2) diff9 /shared",
            "SETMETADATA \"\" (/private/vendor/tidings/x NIL)",
            "DELETE diff9",
        ],
    },
]
