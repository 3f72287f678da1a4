//! Known-answer tests for the command parser, from the example dialogues of
//! RFC 3501, RFC 9051 and the extension RFCs. Each command is also encoded
//! back and parsed again.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use tidings_imap_proto::*;
use tidings_types::Keyword;

const REV1: CodecOptions = CodecOptions { utf8: false };
const UTF8: CodecOptions = CodecOptions { utf8: true };

fn parse_with(line: &str, opts: CodecOptions) -> CommandBody {
    let input = format!("{line}\r\n");
    let cmd = parse_command(input.as_bytes(), opts)
        .unwrap_or_else(|e| panic!("{line:?} did not parse: {e}"));
    // Round trip through the encoder, both literal syntaxes.
    for lit in [LiteralSyntax::Sync, LiteralSyntax::NonSync] {
        let enc = cmd.encode(opts, lit);
        let again = parse_command(&enc, opts).unwrap_or_else(|e| {
            panic!(
                "re-encoded {:?} did not parse: {e}",
                String::from_utf8_lossy(&enc)
            )
        });
        assert_eq!(again, cmd, "{}", String::from_utf8_lossy(&enc));
    }
    cmd.body
}

fn parse(line: &str) -> CommandBody {
    parse_with(line, REV1)
}

fn parse_err(line: &str) -> ParseError {
    let input = format!("{line}\r\n");
    match parse_command(input.as_bytes(), REV1) {
        Ok(c) => panic!("{line:?} parsed as {c:?}"),
        Err(e) => e,
    }
}

fn kw(s: &str) -> Keyword {
    Keyword::new(s).unwrap()
}

fn set(s: &str) -> SequenceSet {
    let line = format!("x UID EXPUNGE {s}\r\n");
    match parse_command(line.as_bytes(), REV1).unwrap().body {
        CommandBody::UidExpunge(s) => s,
        other => panic!("{other:?}"),
    }
}

fn date(y: u16, m: u8, d: u8) -> Date {
    Date::new(y, m, d).unwrap()
}

#[test]
fn any_state_and_not_authenticated() {
    // RFC 9051 §6.1, §6.2
    assert_eq!(parse("abcd CAPABILITY"), CommandBody::Capability);
    assert_eq!(parse("a002 NOOP"), CommandBody::Noop);
    assert_eq!(parse("A023 LOGOUT"), CommandBody::Logout);
    assert_eq!(parse("a002 starttls"), CommandBody::StartTls);
    match parse("a001 LOGIN SMITH SESAME") {
        CommandBody::Login { username, password } => {
            assert_eq!(username, "SMITH");
            assert_eq!(password.expose(), "SESAME");
        }
        other => panic!("{other:?}"),
    }
    match parse("a LOGIN \"fred foo\" {5}\r\npa\"ss") {
        CommandBody::Login { username, password } => {
            assert_eq!(username, "fred foo");
            assert_eq!(password.expose(), "pa\"ss");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn authenticate_with_and_without_initial_response() {
    // RFC 9051 §6.2.2
    match parse("A001 AUTHENTICATE GSSAPI") {
        CommandBody::Authenticate {
            mechanism,
            initial_response,
        } => {
            assert_eq!(mechanism, "GSSAPI");
            assert!(initial_response.is_none());
        }
        other => panic!("{other:?}"),
    }
    // RFC 4959 §3 (SASL-IR)
    match parse("A01 AUTHENTICATE plain dGVzdAB0ZXN0AHRlc3Q=") {
        CommandBody::Authenticate {
            mechanism,
            initial_response,
        } => {
            assert_eq!(mechanism, "PLAIN");
            assert_eq!(initial_response.unwrap().expose(), b"test\0test\0test");
        }
        other => panic!("{other:?}"),
    }
    match parse("A02 AUTHENTICATE EXTERNAL =") {
        CommandBody::Authenticate {
            initial_response, ..
        } => {
            assert_eq!(initial_response.unwrap().expose(), b"");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        parse_err("A03 AUTHENTICATE PLAIN !!!")
            .kind
            .to_string()
            .contains("base64")
    );
    assert_eq!(
        parse_sasl_response(b"dGVzdA==\r\n").unwrap(),
        SaslResponse::Data(tidings_types::Secret::new(b"test".to_vec()))
    );
    assert_eq!(parse_sasl_response(b"*\r\n").unwrap(), SaslResponse::Cancel);
    assert!(parse_sasl_response(b"%%\r\n").is_err());
}

#[test]
fn enable_and_id() {
    // RFC 5161 §4
    assert_eq!(
        parse("t2 ENABLE CONDSTORE X-GOOD-IDEA"),
        CommandBody::Enable(vec!["CONDSTORE".into(), "X-GOOD-IDEA".into()])
    );
    assert_eq!(
        parse("t ENABLE utf8=accept"),
        CommandBody::Enable(vec!["UTF8=ACCEPT".into()])
    );
    // RFC 2971 §3.1
    assert_eq!(
        parse(r#"a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")"#),
        CommandBody::Id(Some(vec![
            ("name".into(), Some("sodr".into())),
            ("version".into(), Some("19.34".into())),
            ("vendor".into(), Some("Pink Floyd Music Limited".into())),
        ]))
    );
    assert_eq!(parse("a ID NIL"), CommandBody::Id(None));
    assert_eq!(
        parse(r#"a ID ("x" NIL)"#),
        CommandBody::Id(Some(vec![("x".into(), None)]))
    );
}

#[test]
fn select_examine_with_condstore_and_qresync() {
    assert_eq!(
        parse("A142 SELECT INBOX"),
        CommandBody::Select {
            mailbox: "INBOX".into(),
            read_only: false,
            params: SelectParams::default()
        }
    );
    assert_eq!(
        parse("A932 EXAMINE blurdybloop"),
        CommandBody::Select {
            mailbox: "blurdybloop".into(),
            read_only: true,
            params: SelectParams::default()
        }
    );
    // RFC 7162 §3.1.8
    match parse("a SELECT INBOX (CONDSTORE)") {
        CommandBody::Select { params, .. } => assert!(params.condstore && params.qresync.is_none()),
        other => panic!("{other:?}"),
    }
    // RFC 7162 §3.2.5.2
    match parse("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))") {
        CommandBody::Select { params, .. } => {
            let q = params.qresync.unwrap();
            assert_eq!(q.uid_validity, 67890007);
            assert_eq!(q.mod_seq, 20050715194045000);
            assert_eq!(q.known_uids, Some(set("41,43:211,214:541")));
            assert!(q.seq_match.is_none());
        }
        other => panic!("{other:?}"),
    }
    match parse(
        "B02 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
    ) {
        CommandBody::Select { params, .. } => {
            let q = params.qresync.unwrap();
            let (seqs, uids) = q.seq_match.unwrap();
            assert_eq!(seqs, set("5000,7500,9000,9990:9999"));
            assert_eq!(uids.items().len(), 13);
        }
        other => panic!("{other:?}"),
    }
    match parse("a EXAMINE x (QRESYNC (1 2) CONDSTORE)") {
        CommandBody::Select {
            params,
            read_only: true,
            ..
        } => {
            assert!(params.condstore);
            assert_eq!(params.qresync.unwrap().known_uids, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn mailbox_management() {
    assert_eq!(
        parse("A003 CREATE owatagusiam/"),
        CommandBody::Create {
            mailbox: "owatagusiam/".into(),
            special_use: vec![]
        }
    );
    // RFC 6154 §5.2 (CREATE-SPECIAL-USE)
    assert_eq!(
        parse(r#"t1 CREATE "Important Messages" (USE (\Important))"#),
        CommandBody::Create {
            mailbox: "Important Messages".into(),
            special_use: vec!["\\Important".into()]
        }
    );
    assert_eq!(
        parse("A683 DELETE blurdybloop"),
        CommandBody::Delete {
            mailbox: "blurdybloop".into()
        }
    );
    assert_eq!(
        parse("A683 RENAME blurdybloop sarasota"),
        CommandBody::Rename {
            from: "blurdybloop".into(),
            to: "sarasota".into()
        }
    );
    assert_eq!(
        parse("A002 SUBSCRIBE #news.comp.mail.mime"),
        CommandBody::Subscribe {
            mailbox: "#news.comp.mail.mime".into()
        }
    );
    assert_eq!(
        parse("A002 UNSUBSCRIBE #news.comp.mail.mime"),
        CommandBody::Unsubscribe {
            mailbox: "#news.comp.mail.mime".into()
        }
    );
    assert_eq!(parse("A001 NAMESPACE"), CommandBody::Namespace);
}

#[test]
fn mailbox_names_are_decoded() {
    // RFC 3501 §5.1.3
    assert_eq!(
        parse("a SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        CommandBody::Select {
            mailbox: "~peter/mail/台北/日本語".into(),
            read_only: false,
            params: SelectParams::default()
        }
    );
    let e = parse_err("a SELECT &Jjo");
    assert_eq!(e.tag, Tag::new("a").ok());
    assert_eq!(
        e.kind,
        ParseErrorKind::MailboxName(utf7::Utf7Error::Unterminated)
    );
    // Well formed, but no mailbox can have that name: NO, not BAD.
    assert_eq!(
        e.response(),
        Status::no(&Tag::new("a").unwrap(), &e.kind.to_string())
            .with_code(tidings_imap_proto::Code::Cannot)
    );
    // A LIST or LSUB pattern that is not modified UTF-7 matches nothing:
    // OK with no items, as Dovecot answers.
    for cmd in ["a LIST \"\" \"bad&name%*\"", "a LSUB \"\" &Jjo*"] {
        let e = parse_err(cmd);
        assert!(matches!(e.kind, ParseErrorKind::ListPattern(_)), "{cmd}");
        assert_eq!(
            e.response().kind,
            tidings_imap_proto::StatusKind::Ok,
            "{cmd}"
        );
        assert_eq!(e.response().tag, Tag::new("a").ok(), "{cmd}");
    }
    // 8-bit names need UTF8=ACCEPT or IMAP4rev2 (RFC 6855 §3).
    let e = parse_err("a SELECT \"Entwürfe\"");
    assert!(matches!(
        e.kind,
        ParseErrorKind::MailboxName(utf7::Utf7Error::BadByte(_))
    ));
    assert_eq!(
        parse_with("a SELECT \"Entwürfe\"", UTF8),
        CommandBody::Select {
            mailbox: "Entwürfe".into(),
            read_only: false,
            params: SelectParams::default()
        }
    );
    // In UTF-8 mode '&' is just '&'.
    assert_eq!(
        parse_with("a DELETE &AGE-", UTF8),
        CommandBody::Delete {
            mailbox: "&AGE-".into()
        }
    );
    assert_eq!(mailbox_name("inbox/x").unwrap().as_str(), "INBOX/x");
    assert!(mailbox_name("a//b").is_err());
}

#[test]
fn list_basic_and_extended() {
    let basic = |r: &str, p: &str| {
        CommandBody::List(List {
            selection: vec![],
            reference: r.into(),
            patterns: vec![p.into()],
            return_options: None,
        })
    };
    assert_eq!(parse(r#"A101 LIST "" """#), basic("", ""));
    assert_eq!(
        parse(r#"A102 LIST #news.comp.mail.misc """#),
        basic("#news.comp.mail.misc", "")
    );
    assert_eq!(parse("A202 LIST ~/Mail/ %"), basic("~/Mail/", "%"));
    assert_eq!(parse(r#"a LIST "" *"#), basic("", "*"));
    // RFC 5258 §5
    match parse(r#"A02 LIST (SUBSCRIBED) "" "*""#) {
        CommandBody::List(l) => {
            assert_eq!(l.selection, vec![ListSelect::Subscribed]);
            assert!(l.is_extended());
        }
        other => panic!("{other:?}"),
    }
    match parse(r#"A04 LIST (REMOTE) "" "%" RETURN (CHILDREN)"#) {
        CommandBody::List(l) => {
            assert_eq!(l.selection, vec![ListSelect::Remote]);
            assert_eq!(l.return_options, Some(vec![ListReturn::Children]));
        }
        other => panic!("{other:?}"),
    }
    match parse(r#"C04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%""#) {
        CommandBody::List(l) => {
            assert_eq!(
                l.selection,
                vec![ListSelect::Subscribed, ListSelect::RecursiveMatch]
            )
        }
        other => panic!("{other:?}"),
    }
    match parse(r#"A01 LIST "" ("INBOX" "Drafts" "Sent/%")"#) {
        CommandBody::List(l) => assert_eq!(l.patterns, vec!["INBOX", "Drafts", "Sent/%"]),
        other => panic!("{other:?}"),
    }
    // RFC 5819 §5 (LIST-STATUS)
    match parse("A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))") {
        CommandBody::List(l) => assert_eq!(
            l.return_options,
            Some(vec![ListReturn::Status(vec![
                StatusItem::Messages,
                StatusItem::Unseen
            ])])
        ),
        other => panic!("{other:?}"),
    }
    // RFC 6154 §5.1
    match parse(r#"t1 LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE SUBSCRIBED)"#) {
        CommandBody::List(l) => {
            assert_eq!(l.selection, vec![ListSelect::SpecialUse]);
            assert_eq!(
                l.return_options,
                Some(vec![ListReturn::SpecialUse, ListReturn::Subscribed])
            );
        }
        other => panic!("{other:?}"),
    }
    match parse(r#"a LIST () "" x RETURN ()"#) {
        CommandBody::List(l) => assert_eq!(l.return_options, Some(vec![])),
        other => panic!("{other:?}"),
    }
    assert!(
        parse_err(r#"a LIST (BOGUS) "" x"#)
            .kind
            .to_string()
            .contains("BOGUS")
    );
    assert_eq!(
        parse(r##"A002 LSUB "#news." "comp.mail.*""##),
        CommandBody::Lsub {
            reference: "#news.".into(),
            pattern: "comp.mail.*".into()
        }
    );
}

#[test]
fn status() {
    assert_eq!(
        parse("A042 STATUS blurdybloop (UIDNEXT MESSAGES)"),
        CommandBody::Status {
            mailbox: "blurdybloop".into(),
            items: vec![StatusItem::UidNext, StatusItem::Messages]
        }
    );
    // RFC 8438 (STATUS=SIZE), RFC 8474 (MAILBOXID), RFC 7162, RFC 7889
    assert_eq!(
        parse(
            "A STATUS INBOX (size mailboxid HIGHESTMODSEQ APPENDLIMIT DELETED RECENT UNSEEN UIDVALIDITY)"
        ),
        CommandBody::Status {
            mailbox: "INBOX".into(),
            items: vec![
                StatusItem::Size,
                StatusItem::MailboxId,
                StatusItem::HighestModSeq,
                StatusItem::AppendLimit,
                StatusItem::Deleted,
                StatusItem::Recent,
                StatusItem::Unseen,
                StatusItem::UidValidity,
            ]
        }
    );
    assert!(
        parse_err("A STATUS INBOX ()")
            .kind
            .to_string()
            .contains("empty list")
    );
}

const MESSAGE: &str = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\nTo: mooch@owatagu.siam.edu.example\r\nMessage-Id: <B27397-0100000@Blurdybloop.example>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

#[test]
fn replace() {
    // RFC 8508 §4.1: REPLACE 4 Drafts (\Seen \Draft) {312}
    let line = format!(
        "A003 REPLACE 4 Drafts (\\Seen \\Draft) {{{}}}\r\n{MESSAGE}",
        MESSAGE.len()
    );
    match parse(&line) {
        CommandBody::Replace {
            uid,
            number,
            mailbox,
            message,
        } => {
            assert!(!uid);
            assert_eq!(number, SeqNumber::Value(4));
            assert_eq!(mailbox, "Drafts");
            assert_eq!(message.flags, vec![kw("\\Seen"), kw("\\Draft")]);
            assert_eq!(message.data, MESSAGE.as_bytes());
        }
        other => panic!("{other:?}"),
    }
    // RFC 8508 §4.2: UID REPLACE with LITERAL+, and a date-time
    let line = format!(
        "B003 UID REPLACE 2000 Drafts \"17-Jul-1996 02:44:25 -0700\" {{{}+}}\r\n{MESSAGE}",
        MESSAGE.len()
    );
    match parse(&line) {
        CommandBody::Replace {
            uid: true,
            number: SeqNumber::Value(2000),
            message,
            ..
        } => {
            assert!(message.flags.is_empty());
            assert_eq!(message.date.unwrap().zone_minutes, -420);
        }
        other => panic!("{other:?}"),
    }
    // `*` is a seq-number; literal8 and UTF8 as in APPEND
    match parse("a REPLACE * x ~{3}\r\na\0b") {
        CommandBody::Replace {
            number: SeqNumber::Largest,
            message,
            ..
        } => assert_eq!(message.kind, AppendDataKind::Literal8),
        other => panic!("{other:?}"),
    }
    match parse_with("a UID REPLACE 9 x UTF8 (~{3+}\r\né!)", UTF8) {
        CommandBody::Replace { message, .. } => {
            assert_eq!(message.kind, AppendDataKind::Utf8)
        }
        other => panic!("{other:?}"),
    }
    // One message only, a non-zero number, a mailbox
    assert!(parse_err("a REPLACE 1 x {1}\r\nx {1}\r\ny").tag.is_some());
    assert!(parse_err("a REPLACE 0 x {1}\r\nx").tag.is_some());
    assert!(parse_err("a REPLACE 1 {1}\r\nx").tag.is_some());
    assert!(parse_err("a REPLACE 1:2 x {1}\r\nx").tag.is_some());
}

#[test]
fn catenate() {
    // RFC 4469 §5 / Appendix A (the URLs as RFC 5092 writes them)
    let line = "A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE \
        (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" \
        TEXT {42}\r\n\r\n--------------030308070208000400050907\r\n \
        URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME\" \
        URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1\" \
        TEXT {5+}\r\nhello)";
    match parse(line) {
        CommandBody::Append { mailbox, messages } => {
            assert_eq!(mailbox, "Drafts");
            assert_eq!(messages.len(), 1);
            let m = &messages[0];
            assert_eq!(m.flags.len(), 3);
            assert!(m.data.is_empty());
            let AppendDataKind::Catenate(parts) = &m.kind else {
                panic!("{m:?}")
            };
            assert_eq!(parts.len(), 5);
            assert_eq!(
                parts[0],
                CatPart::Url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER".into())
            );
            assert_eq!(
                parts[1],
                CatPart::Text {
                    data: b"\r\n--------------030308070208000400050907\r\n".to_vec(),
                    kind: TextKind::Literal
                }
            );
            let url = match &parts[2] {
                CatPart::Url(u) => ImapUrl::parse(u).unwrap(),
                other => panic!("{other:?}"),
            };
            assert_eq!(url.uid, 20);
            assert_eq!(url.section.unwrap().text, Some(SectionText::Mime));
        }
        other => panic!("{other:?}"),
    }
    // MULTIAPPEND with one CATENATE message and one literal; TEXT
    // literal8 and UTF8 parts; a URL as a literal (an astring).
    match parse_with(
        "a APPEND x CATENATE (TEXT ~{3}\r\na\0b UTF8 (~{2}\r\né) URL {9}\r\n;UID=1/;S) (\\Seen) {1}\r\nx",
        UTF8,
    ) {
        CommandBody::Append { messages, .. } => {
            assert_eq!(messages.len(), 2);
            let AppendDataKind::Catenate(parts) = &messages[0].kind else {
                panic!("{messages:?}")
            };
            assert_eq!(
                parts[0],
                CatPart::Text {
                    data: b"a\0b".to_vec(),
                    kind: TextKind::Literal8
                }
            );
            assert_eq!(
                parts[1],
                CatPart::Text {
                    data: "é".as_bytes().to_vec(),
                    kind: TextKind::Utf8
                }
            );
            assert_eq!(parts[2], CatPart::Url(";UID=1/;S".into()));
            assert_eq!(messages[1].kind, AppendDataKind::Literal);
        }
        other => panic!("{other:?}"),
    }
    // At least one part; only TEXT, URL and UTF8 parts.
    assert!(parse_err("a APPEND x CATENATE ()").tag.is_some());
    assert!(
        parse_err("a APPEND x CATENATE (FOO {1}\r\nx)")
            .tag
            .is_some()
    );
    assert!(parse_err("a APPEND x CATENATE (TEXT \"x\")").tag.is_some());
    assert!(
        parse_err("a APPEND x CATENATE (URL \"/INBOX/;UID=1\"")
            .tag
            .is_some()
    );
}

#[test]
fn urlauth_commands() {
    // RFC 4467 §7.2, §7.3 examples
    let rump = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred";
    match parse(&format!("a001 GENURLAUTH \"{rump}\" INTERNAL")) {
        CommandBody::GenUrlAuth(urls) => {
            assert_eq!(urls, vec![(rump.to_string(), "INTERNAL".to_string())])
        }
        other => panic!("{other:?}"),
    }
    let full = format!("{rump}:internal:91354a473744909de610943775f92038");
    match parse(&format!("a002 URLFETCH \"{full}\"")) {
        CommandBody::UrlFetch(urls) => assert_eq!(urls, vec![full.clone()]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse("a003 RESETKEY"),
        CommandBody::ResetKey {
            mailbox: None,
            mechanisms: vec![]
        }
    );
    assert_eq!(
        parse("a004 RESETKEY INBOX internal"),
        CommandBody::ResetKey {
            mailbox: Some("INBOX".into()),
            mechanisms: vec!["INTERNAL".into()]
        }
    );
    assert!(parse("a RESETKEY INBOX").valid_states().authenticated);
    // Two URLs at once; a URL needs its mechanism; URLFETCH needs a URL.
    match parse("a GENURLAUTH \"a\" INTERNAL b INTERNAL") {
        CommandBody::GenUrlAuth(urls) => assert_eq!(urls.len(), 2),
        other => panic!("{other:?}"),
    }
    assert!(parse_err("a GENURLAUTH \"x\"").tag.is_some());
    assert!(parse_err("a GENURLAUTH").tag.is_some());
    assert!(parse_err("a URLFETCH").tag.is_some());
}

#[test]
fn append_and_multiappend() {
    // RFC 9051 §6.3.12
    let line = format!(
        "A003 APPEND saved-messages (\\Seen) {{{}}}\r\n{MESSAGE}",
        MESSAGE.len()
    );
    match parse(&line) {
        CommandBody::Append { mailbox, messages } => {
            assert_eq!(mailbox, "saved-messages");
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0].flags, vec![kw("\\Seen")]);
            assert_eq!(messages[0].date, None);
            assert_eq!(messages[0].data, MESSAGE.as_bytes());
            assert_eq!(messages[0].kind, AppendDataKind::Literal);
        }
        other => panic!("{other:?}"),
    }
    // RFC 3502 §6 (MULTIAPPEND), with a date-time and LITERAL+
    let line = format!(
        "A003 APPEND saved-messages (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {{{}+}}\r\n{MESSAGE} {{{}+}}\r\n{MESSAGE}",
        MESSAGE.len(),
        MESSAGE.len()
    );
    match parse(&line) {
        CommandBody::Append { messages, .. } => {
            assert_eq!(messages.len(), 2);
            let d = messages[0].date.unwrap();
            assert_eq!(d.to_string(), " 7-Feb-1994 21:52:25 -0800");
            assert_eq!(d.zone_minutes, -480);
            assert!(messages[1].flags.is_empty() && messages[1].date.is_none());
        }
        other => panic!("{other:?}"),
    }
    // RFC 3516 literal8, RFC 6855 UTF8
    match parse("a APPEND x ~{3}\r\na\0b") {
        CommandBody::Append { messages, .. } => {
            assert_eq!(messages[0].kind, AppendDataKind::Literal8);
            assert_eq!(messages[0].data, b"a\0b");
        }
        other => panic!("{other:?}"),
    }
    match parse_with(
        "a APPEND x () \"17-Jul-1996 02:44:25 +0100\" UTF8 (~{3+}\r\né!)",
        UTF8,
    ) {
        CommandBody::Append { messages, .. } => {
            assert_eq!(messages[0].kind, AppendDataKind::Utf8);
            assert_eq!(messages[0].data, "é!".as_bytes());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        parse_err("a APPEND x (\\Recent) {1}\r\nx")
            .kind
            .to_string()
            .contains("Recent")
    );
    assert!(parse_err("a APPEND x").kind.to_string().contains("message"));
    assert!(
        parse_err("a APPEND x {10}\r\nabc")
            .kind
            .to_string()
            .contains("cut short")
    );
    assert!(
        parse_err("a APPEND x \"30-Feb-2020 00:00:00 +0000\" {1}\r\nx")
            .kind
            .to_string()
            .contains("no such date")
    );
}

#[test]
fn selected_state_simple_commands() {
    assert_eq!(parse("a IDLE"), CommandBody::Idle);
    assert!(parse_idle_done(b"DONE\r\n"));
    assert!(parse_idle_done(b"done\n"));
    assert!(!parse_idle_done(b"DONE x\r\n"));
    assert!(!parse_idle_done(b"a NOOP\r\n"));
    assert_eq!(parse("FXXZ CHECK"), CommandBody::Check);
    assert_eq!(parse("A341 CLOSE"), CommandBody::Close);
    assert_eq!(parse("a UNSELECT"), CommandBody::Unselect);
    assert_eq!(parse("A202 EXPUNGE"), CommandBody::Expunge);
    // RFC 4315 §2.1
    assert_eq!(
        parse("A003 UID EXPUNGE 3000:3002"),
        CommandBody::UidExpunge(set("3000:3002"))
    );
    assert_eq!(
        parse("A003 COPY 2:4 MEETING"),
        CommandBody::Copy {
            uid: false,
            set: set("2:4"),
            mailbox: "MEETING".into()
        }
    );
    // RFC 6851 §3.3
    assert_eq!(
        parse("a UID MOVE 42:69 foo"),
        CommandBody::Move {
            uid: true,
            set: set("42:69"),
            mailbox: "foo".into()
        }
    );
    assert_eq!(
        parse("a COMPRESS deflate"),
        CommandBody::Compress("DEFLATE".into())
    );
}

#[test]
fn sequence_sets() {
    let s = set("1,3:*,*:5,$,7");
    assert_eq!(
        s.items(),
        &[
            SeqItem::Range(SeqNumber::Value(1), SeqNumber::Value(1)),
            SeqItem::Range(SeqNumber::Value(3), SeqNumber::Largest),
            SeqItem::Range(SeqNumber::Largest, SeqNumber::Value(5)),
            SeqItem::Saved,
            SeqItem::Range(SeqNumber::Value(7), SeqNumber::Value(7)),
        ]
    );
    assert!(
        parse_err("a FETCH 0 FLAGS")
            .kind
            .to_string()
            .contains("zero")
    );
    assert!(
        parse_err("a FETCH 1:4294967296 FLAGS")
            .kind
            .to_string()
            .contains("too large")
    );
    assert!(
        parse_err("a FETCH 1, FLAGS")
            .kind
            .to_string()
            .contains("expected a number")
    );
}

#[test]
fn search_rfc9051_examples() {
    // RFC 9051 §6.4.4
    match parse(r#"A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith""#) {
        CommandBody::Search(s) => {
            assert!(!s.uid && s.return_options.is_none() && s.charset.is_none());
            assert_eq!(
                s.criteria,
                vec![
                    SearchKey::Flagged,
                    SearchKey::Since(date(1994, 2, 1)),
                    SearchKey::Not(Box::new(SearchKey::From("Smith".into()))),
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    match parse("A284 SEARCH CHARSET UTF-8 TEXT {12}\r\nXXXXXXäää") {
        CommandBody::Search(s) => {
            assert_eq!(s.charset.as_deref(), Some("UTF-8"));
            assert_eq!(s.criteria, vec![SearchKey::Text("XXXXXXäää".into())]);
        }
        other => panic!("{other:?}"),
    }
    // RFC 4731 §3.1 (ESEARCH) and RFC 9051
    match parse(r#"A283 SEARCH RETURN (MIN COUNT) FLAGGED SINCE "1-Feb-1994" NOT FROM "Smith""#) {
        CommandBody::Search(s) => {
            assert_eq!(
                s.return_options,
                Some(vec![SearchReturn::Min, SearchReturn::Count])
            )
        }
        other => panic!("{other:?}"),
    }
    match parse("A284 UID SEARCH RETURN () ALL") {
        CommandBody::Search(s) => {
            assert!(s.uid);
            assert_eq!(s.return_options, Some(vec![]));
        }
        other => panic!("{other:?}"),
    }
    // RFC 5182 §2.4 (SEARCHRES)
    match parse("A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"") {
        CommandBody::Search(s) => assert_eq!(s.return_options, Some(vec![SearchReturn::Save])),
        other => panic!("{other:?}"),
    }
    match parse("A300 SEARCH RETURN (SAVE MIN) OR $ 1:5 UID $") {
        CommandBody::Search(s) => assert_eq!(
            s.criteria,
            vec![
                SearchKey::Or(
                    Box::new(SearchKey::SequenceSet(SequenceSet::saved())),
                    Box::new(SearchKey::SequenceSet(set("1:5")))
                ),
                SearchKey::Uid(SequenceSet::saved()),
            ]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn search_every_key() {
    let line = concat!(
        "a SEARCH ALL ANSWERED BCC b BEFORE 1-Jan-2000 BODY x CC c DELETED DRAFT FLAGGED FROM f ",
        "HEADER X-Spam yes KEYWORD $Junk LARGER 100 NEW NOT SEEN OLD ON 2-Feb-2001 OR 1 2 RECENT ",
        "SEEN SENTBEFORE 3-Mar-2002 SENTON 4-Apr-2003 SENTSINCE 5-May-2004 SINCE 6-Jun-2005 ",
        "SMALLER 200 SUBJECT s TEXT t TO u UID 1:* UNANSWERED UNDELETED UNDRAFT UNFLAGGED ",
        "UNKEYWORD foo UNSEEN 1,2 (DELETED FLAGGED) MODSEQ 5 OLDER 60 YOUNGER 30 ",
        "SAVEDBEFORE 7-Jul-2006 SAVEDON 8-Aug-2007 SAVEDSINCE 9-Sep-2008 SAVEDATESUPPORTED ",
        "EMAILID M6d99ac3275bb4e THREADID T64b478a75b7ea9 X-GM-RAW \"has:attachment in:unread\" ",
        "X-GM-MSGID 1278455344230334865 X-GM-THRID 1266894439832287888 X-GM-LABELS \\Starred ",
        "X-GM-LABELS &APw-"
    );
    match parse(line) {
        CommandBody::Search(s) => {
            use SearchKey as K;
            assert_eq!(
                s.criteria,
                vec![
                    K::All,
                    K::Answered,
                    K::Bcc("b".into()),
                    K::Before(date(2000, 1, 1)),
                    K::Body("x".into()),
                    K::Cc("c".into()),
                    K::Deleted,
                    K::Draft,
                    K::Flagged,
                    K::From("f".into()),
                    K::Header("X-Spam".into(), "yes".into()),
                    K::Keyword(kw("$Junk")),
                    K::Larger(100),
                    K::New,
                    K::Not(Box::new(K::Seen)),
                    K::Old,
                    K::On(date(2001, 2, 2)),
                    K::Or(
                        Box::new(K::SequenceSet(set("1"))),
                        Box::new(K::SequenceSet(set("2")))
                    ),
                    K::Recent,
                    K::Seen,
                    K::SentBefore(date(2002, 3, 3)),
                    K::SentOn(date(2003, 4, 4)),
                    K::SentSince(date(2004, 5, 5)),
                    K::Since(date(2005, 6, 6)),
                    K::Smaller(200),
                    K::Subject("s".into()),
                    K::Text("t".into()),
                    K::To("u".into()),
                    K::Uid(set("1:*")),
                    K::Unanswered,
                    K::Undeleted,
                    K::Undraft,
                    K::Unflagged,
                    K::Unkeyword(kw("foo")),
                    K::Unseen,
                    K::SequenceSet(set("1,2")),
                    K::And(vec![K::Deleted, K::Flagged]),
                    K::ModSeq {
                        entry: None,
                        mod_seq: 5
                    },
                    K::Older(60),
                    K::Younger(30),
                    K::SavedBefore(date(2006, 7, 7)),
                    K::SavedOn(date(2007, 8, 8)),
                    K::SavedSince(date(2008, 9, 9)),
                    K::SaveDateSupported,
                    K::EmailId("M6d99ac3275bb4e".into()),
                    K::ThreadId("T64b478a75b7ea9".into()),
                    K::XGmRaw("has:attachment in:unread".into()),
                    K::XGmMsgId(1278455344230334865),
                    K::XGmThrId(1266894439832287888),
                    K::XGmLabels("\\Starred".into()),
                    K::XGmLabels("ü".into()),
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn search_condstore_modseq() {
    // RFC 7162 §3.1.5
    match parse(r#"a SEARCH MODSEQ "/flags/\\draft" all 620162338"#) {
        CommandBody::Search(s) => assert_eq!(
            s.criteria,
            vec![SearchKey::ModSeq {
                entry: Some(("/flags/\\draft".into(), EntryType::All)),
                mod_seq: 620162338
            }]
        ),
        other => panic!("{other:?}"),
    }
    match parse("t SEARCH OR NOT MODSEQ 720162338 LARGER 50000") {
        CommandBody::Search(s) => assert_eq!(
            s.criteria,
            vec![SearchKey::Or(
                Box::new(SearchKey::Not(Box::new(SearchKey::ModSeq {
                    entry: None,
                    mod_seq: 720162338
                }))),
                Box::new(SearchKey::Larger(50000))
            )]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn search_errors() {
    let e = parse_err("a SEARCH CHARSET KOI8-R ALL");
    assert_eq!(e.kind, ParseErrorKind::BadCharset("KOI8-R".into()));
    let r = Response::from(e.response()).to_bytes(REV1);
    assert_eq!(
        String::from_utf8(r).unwrap(),
        "a NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset KOI8-R\r\n"
    );
    assert!(
        parse_err("a SEARCH BOGUS")
            .kind
            .to_string()
            .contains("unknown search key BOGUS")
    );
    assert!(
        parse_err("a SEARCH SINCE 1-Foo-2000")
            .kind
            .to_string()
            .contains("month")
    );
    assert!(parse_err("a SEARCH").kind.to_string().contains("space"));
    assert!(parse_err("a SEARCH ()").kind.to_string().contains("empty"));
    assert!(
        parse_err("a SEARCH TEXT \"a\\b\"")
            .kind
            .to_string()
            .contains("after '\\'")
    );
    // Deep nesting is refused, not a stack overflow.
    let deep = format!("a SEARCH {}ALL", "NOT ".repeat(10_000));
    assert!(parse_err(&deep).kind.to_string().contains("nest"));
    let deep = format!("a SEARCH {}ALL{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse_err(&deep).kind.to_string().contains("nest"));
}

#[test]
fn fetch_examples() {
    let attrs = |line: &str| match parse(line) {
        CommandBody::Fetch(f) => f,
        other => panic!("{other:?}"),
    };
    use FetchAttribute as A;
    // RFC 9051 §6.4.5
    let f = attrs("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])");
    assert_eq!(f.set, set("2:4"));
    assert_eq!(
        f.items,
        FetchItems::Attributes(vec![
            A::Flags,
            A::BodySection {
                peek: false,
                section: Section {
                    part: vec![],
                    text: Some(SectionText::HeaderFields {
                        not: false,
                        fields: vec!["DATE".into(), "FROM".into()]
                    })
                },
                partial: None
            }
        ])
    );
    assert_eq!(attrs("A003 FETCH 12 FULL").items, FetchItems::Full);
    assert_eq!(attrs("A003 FETCH 12 all").items.expand().len(), 4);
    assert_eq!(attrs("A003 FETCH 12 FAST").items, FetchItems::Fast);
    assert_eq!(
        attrs("A005 FETCH 12 BODY[HEADER]").items,
        FetchItems::Attributes(vec![A::BodySection {
            peek: false,
            section: Section {
                part: vec![],
                text: Some(SectionText::Header)
            },
            partial: None
        }])
    );
    let f = attrs(
        "a FETCH 1 (BODY.PEEK[1.2.MIME]<0.100> BODY[] BODY[3.TEXT] BODY[4.HEADER.FIELDS.NOT (X-A \"Y B\")] BODY[2])",
    );
    let FetchItems::Attributes(a) = &f.items else {
        panic!()
    };
    assert_eq!(
        a[0],
        A::BodySection {
            peek: true,
            section: Section {
                part: vec![1, 2],
                text: Some(SectionText::Mime)
            },
            partial: Some(Partial {
                origin: 0,
                count: 100
            })
        }
    );
    assert!(!a[0].sets_seen() && a[1].sets_seen());
    assert_eq!(
        a[1],
        A::BodySection {
            peek: false,
            section: Section::default(),
            partial: None
        }
    );
    assert_eq!(
        a[3],
        A::BodySection {
            peek: false,
            section: Section {
                part: vec![4],
                text: Some(SectionText::HeaderFields {
                    not: true,
                    fields: vec!["X-A".into(), "Y B".into()]
                })
            },
            partial: None
        }
    );
    let f = attrs(
        "a FETCH 1:* (ENVELOPE INTERNALDATE RFC822.SIZE RFC822 RFC822.HEADER RFC822.TEXT BODY BODYSTRUCTURE UID)",
    );
    assert_eq!(
        f.items,
        FetchItems::Attributes(vec![
            A::Envelope,
            A::InternalDate,
            A::Rfc822Size,
            A::Rfc822,
            A::Rfc822Header,
            A::Rfc822Text,
            A::Body,
            A::BodyStructure,
            A::Uid
        ])
    );
    // RFC 3516 §4.2 (BINARY)
    assert_eq!(
        attrs("t FETCH 1 (BINARY.PEEK[1]<0.7> BINARY[2.3] BINARY.SIZE[1] BINARY[])").items,
        FetchItems::Attributes(vec![
            A::Binary {
                peek: true,
                part: vec![1],
                partial: Some(Partial {
                    origin: 0,
                    count: 7
                })
            },
            A::Binary {
                peek: false,
                part: vec![2, 3],
                partial: None
            },
            A::BinarySize { part: vec![1] },
            A::Binary {
                peek: false,
                part: vec![],
                partial: None
            },
        ])
    );
    // RFC 7162 §3.1.4.2, §3.2.6
    let f = attrs("s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)");
    assert!(f.uid && f.changed_since == Some(12345) && !f.vanished);
    let f = attrs("A UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)");
    assert!(f.vanished);
    // RFC 8474 §5.2, RFC 8514, Gmail
    assert_eq!(
        attrs("27 FETCH 1:* (EMAILID THREADID MODSEQ SAVEDATE X-GM-MSGID X-GM-THRID X-GM-LABELS)")
            .items,
        FetchItems::Attributes(vec![
            A::EmailId,
            A::ThreadId,
            A::ModSeq,
            A::SaveDate,
            A::XGmMsgId,
            A::XGmThrId,
            A::XGmLabels
        ])
    );
    assert_eq!(
        attrs("a FETCH 1 savedate").items,
        FetchItems::Attributes(vec![A::SaveDate])
    );
    // RFC 8970 §3
    assert_eq!(
        attrs("a FETCH 1:* (UID PREVIEW (LAZY) FLAGS)").items,
        FetchItems::Attributes(vec![A::Uid, A::Preview { lazy: true }, A::Flags])
    );
    assert_eq!(
        attrs("a FETCH 1 PREVIEW").items,
        FetchItems::Attributes(vec![A::Preview { lazy: false }])
    );
    assert!(
        parse_err("a FETCH 1 (PREVIEW (FUZZY))")
            .kind
            .to_string()
            .contains("PREVIEW modifier")
    );
    assert!(
        parse_err("a FETCH 1 (BODY.PEEK)")
            .kind
            .to_string()
            .contains("'['")
    );
    assert!(
        parse_err("a FETCH 1 (BODY[0])")
            .kind
            .to_string()
            .contains("zero")
    );
    assert!(
        parse_err("a FETCH 1 (BODY[MIME])")
            .kind
            .to_string()
            .contains("MIME")
    );
    assert!(
        parse_err("a FETCH 1 (BODY[]<0.0>)")
            .kind
            .to_string()
            .contains("zero")
    );
    assert!(
        parse_err("a FETCH 1 (FROB)")
            .kind
            .to_string()
            .contains("FROB")
    );
    assert!(
        parse_err("a FETCH 1 (FLAGS) (CHANGEDSINCE)")
            .kind
            .to_string()
            .contains("space")
    );
}

#[test]
fn store_examples() {
    let st = |line: &str| match parse(line) {
        CommandBody::Store(s) => s,
        other => panic!("{other:?}"),
    };
    // RFC 9051 §6.4.6
    let s = st("A003 STORE 2:4 +FLAGS (\\Deleted)");
    assert_eq!(s.mode, StoreMode::Add);
    assert!(!s.silent);
    assert_eq!(s.what, StoreWhat::Flags(vec![kw("\\Deleted")]));
    let s = st("a UID STORE 1 -FLAGS.SILENT \\Seen $Junk");
    assert!(s.uid && s.silent && s.mode == StoreMode::Remove);
    assert_eq!(s.what, StoreWhat::Flags(vec![kw("\\Seen"), kw("$Junk")]));
    let s = st("a STORE 1 FLAGS ()");
    assert_eq!(s.what, StoreWhat::Flags(vec![]));
    // RFC 7162 §3.1.3
    let s = st("d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)");
    assert_eq!(s.unchanged_since, Some(320162338));
    // Gmail X-GM-LABELS
    let s = st("a011 STORE 1 +X-GM-LABELS (\\Inbox foo \"Muy Importante\")");
    assert_eq!(
        s.what,
        StoreWhat::GmLabels(vec![
            "\\Inbox".into(),
            "foo".into(),
            "Muy Importante".into()
        ])
    );
    assert!(
        parse_err("a STORE 1 +FLAGS (\\Bogus)")
            .kind
            .to_string()
            .contains("Bogus")
    );
    assert!(
        parse_err("a STORE 1 LABELS (x)")
            .kind
            .to_string()
            .contains("FLAGS")
    );
}

#[test]
fn search_partial_rfc9394() {
    let p = |from_end, first, second| {
        Some(vec![SearchReturn::Partial(PartialRange {
            from_end,
            first,
            second,
        })])
    };
    // RFC 9394 §3.1 examples.
    match parse("A01 UID SEARCH RETURN (PARTIAL 1:500) UNDELETED UNKEYWORD $Junk") {
        CommandBody::Search(s) => assert_eq!(s.return_options, p(false, 1, 500)),
        other => panic!("{other:?}"),
    }
    match parse("A02 UID SEARCH RETURN (PARTIAL -1:-100) UNDELETED UNKEYWORD $Junk") {
        CommandBody::Search(s) => assert_eq!(s.return_options, p(true, 1, 100)),
        other => panic!("{other:?}"),
    }
    match parse("A03 SORT RETURN (COUNT PARTIAL 500:401) (DATE) UTF-8 ALL") {
        CommandBody::Sort(s) => assert_eq!(
            s.return_options,
            Some(vec![
                SearchReturn::Count,
                SearchReturn::Partial(PartialRange {
                    from_end: false,
                    first: 500,
                    second: 401
                })
            ])
        ),
        other => panic!("{other:?}"),
    }
    // RFC 9394 §3.2: the UID FETCH modifier.
    match parse("A04 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5 PARTIAL -1:-30)") {
        CommandBody::Fetch(f) => {
            assert_eq!(f.changed_since, Some(5));
            assert_eq!(
                f.partial,
                Some(PartialRange {
                    from_end: true,
                    first: 1,
                    second: 30
                })
            );
        }
        other => panic!("{other:?}"),
    }
    for bad in [
        "a UID FETCH 1:* FLAGS (PARTIAL 1:5 PARTIAL 1:2)",
        "a UID FETCH 1:* FLAGS (PARTIAL)",
        "a SEARCH RETURN (PARTIAL 1:5 ALL) ALL",
        "a SEARCH RETURN (PARTIAL 1:5 PARTIAL 6:9) ALL",
        "a SEARCH RETURN (PARTIAL) ALL",
        "a SEARCH RETURN (PARTIAL 0:5) ALL",
        "a SEARCH RETURN (PARTIAL 1:*) ALL",
        "a SEARCH RETURN (PARTIAL -1:5) ALL",
        "a SEARCH RETURN (PARTIAL 1:-5) ALL",
        "a SEARCH RETURN (PARTIAL 5) ALL",
        "a SEARCH RETURN (PARTIAL \"1:5\") ALL",
        "a SEARCH RETURN (PARTIAL 1:4294967296) ALL",
    ] {
        assert!(
            matches!(parse_err(bad).kind, ParseErrorKind::Syntax(_)),
            "{bad}"
        );
    }
}

#[test]
fn sort_and_thread() {
    // RFC 5256 §3
    // RFC 5267 §3.1 (ESORT): RETURN before the sort criteria.
    match parse("A283 SORT RETURN (COUNT) (DATE) UTF-8 SINCE 1-Feb-1994") {
        CommandBody::Sort(s) => {
            assert_eq!(s.return_options, Some(vec![SearchReturn::Count]));
            assert_eq!(s.criteria.len(), 1);
            assert_eq!(s.search, vec![SearchKey::Since(date(1994, 2, 1))]);
        }
        other => panic!("{other:?}"),
    }
    match parse("A285 UID SORT RETURN (MIN MAX SAVE) (REVERSE DATE) UTF-8 SUBJECT \"foo\"") {
        CommandBody::Sort(s) => {
            assert!(s.uid);
            assert_eq!(
                s.return_options,
                Some(vec![
                    SearchReturn::Min,
                    SearchReturn::Max,
                    SearchReturn::Save
                ])
            );
        }
        other => panic!("{other:?}"),
    }
    match parse("A286 SORT RETURN () (ARRIVAL) UTF-8 ALL") {
        CommandBody::Sort(s) => assert_eq!(s.return_options, Some(vec![])),
        other => panic!("{other:?}"),
    }
    match parse("A287 SORT (ARRIVAL) UTF-8 ALL") {
        CommandBody::Sort(s) => assert_eq!(s.return_options, None),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_err("a SORT RETURN (BOGUS) (DATE) UTF-8 ALL").kind,
        ParseErrorKind::Syntax(_)
    ));
    match parse("A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994") {
        CommandBody::Sort(s) => {
            assert_eq!(
                s.criteria,
                vec![SortCriterion {
                    reverse: false,
                    key: SortKey::Subject
                }]
            );
            assert_eq!(s.charset, "UTF-8");
            assert_eq!(s.search, vec![SearchKey::Since(date(1994, 2, 1))]);
        }
        other => panic!("{other:?}"),
    }
    match parse("A283 UID SORT (SUBJECT REVERSE DATE ARRIVAL CC FROM SIZE TO) UTF-8 ALL") {
        CommandBody::Sort(s) => {
            assert!(s.uid);
            assert_eq!(
                s.criteria[1],
                SortCriterion {
                    reverse: true,
                    key: SortKey::Date
                }
            );
            assert_eq!(s.criteria.len(), 7);
        }
        other => panic!("{other:?}"),
    }
    // RFC 5957 (SORT=DISPLAY)
    match parse("A1 SORT (DISPLAYFROM REVERSE DISPLAYTO) us-ascii ALL") {
        CommandBody::Sort(s) => {
            assert_eq!(s.criteria[0].key, SortKey::DisplayFrom);
            assert_eq!(
                s.criteria[1],
                SortCriterion {
                    reverse: true,
                    key: SortKey::DisplayTo
                }
            );
            assert_eq!(s.charset, "US-ASCII");
        }
        other => panic!("{other:?}"),
    }
    match parse("A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000") {
        CommandBody::Thread(t) => {
            assert_eq!(t.algorithm, ThreadAlgorithm::OrderedSubject);
            assert_eq!(t.search, vec![SearchKey::Since(date(2000, 3, 5))]);
        }
        other => panic!("{other:?}"),
    }
    match parse("A284 UID THREAD REFERENCES US-ASCII TEXT \"gewp\"") {
        CommandBody::Thread(t) => {
            assert!(t.uid);
            assert_eq!(t.algorithm, ThreadAlgorithm::References);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_err("a SORT (DATE) ISO-8859-1 ALL").kind,
        ParseErrorKind::BadCharset(_)
    ));
    assert!(
        parse_err("a SORT () UTF-8 ALL")
            .kind
            .to_string()
            .contains("empty")
    );
}

#[test]
fn quota() {
    // RFC 9208 §4
    assert_eq!(
        parse("G0001 GETQUOTA \"!partition/sda4\""),
        CommandBody::GetQuota("!partition/sda4".into())
    );
    assert_eq!(
        parse("A003 GETQUOTAROOT INBOX"),
        CommandBody::GetQuotaRoot("INBOX".into())
    );
    assert_eq!(
        parse("S0000 SETQUOTA \"\" (STORAGE 512 message 1000)"),
        CommandBody::SetQuota {
            root: "".into(),
            limits: vec![("STORAGE".into(), 512), ("MESSAGE".into(), 1000)]
        }
    );
}

#[test]
fn errors_carry_the_tag_when_there_is_one() {
    let e = parse_err("a1 FROBNICATE");
    assert_eq!(e.tag, Tag::new("a1").ok());
    assert_eq!(e.kind, ParseErrorKind::UnknownCommand("FROBNICATE".into()));
    assert_eq!(
        String::from_utf8(Response::from(e.response()).to_bytes(REV1)).unwrap(),
        "a1 BAD unknown command FROBNICATE\r\n"
    );
    assert_eq!(
        parse_err("a UID NOOP").kind,
        ParseErrorKind::UnknownCommand("UID NOOP".into())
    );
    let e = parse_err("+ NOOP");
    assert_eq!(e.tag, None);
    assert_eq!(
        String::from_utf8(Response::from(e.response()).to_bytes(REV1)).unwrap(),
        "* BAD expected a tag at byte 0, found '+'\r\n"
    );
    assert_eq!(parse_err("").tag, None);
    assert_eq!(parse_err("a").tag, Tag::new("a").ok());
    assert_eq!(
        parse_err("a NOOP extra").kind.to_string(),
        "expected end of line at byte 6, found space"
    );
    assert!(parse_err("a LOGIN x").kind.to_string().contains("space"));
    assert!(parse_command(b"a NOOP", REV1).is_err(), "CRLF is required");
    assert!(
        parse_command(b"a NOOP\r\nb NOOP\r\n", REV1).is_err(),
        "one command at a time"
    );
}

#[test]
fn commands_are_case_insensitive() {
    assert_eq!(
        parse("a uid fetch 1 (flags body.peek[header.fields (from)])"),
        parse("a UID FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (from)])")
    );
    assert_eq!(parse("a Select INBOX"), parse("a SELECT INBOX"));
}

#[test]
fn commands_know_their_states() {
    let any = parse("a NOOP").valid_states();
    assert!(any.not_authenticated && any.authenticated && any.selected);
    let login = parse("a LOGIN a b").valid_states();
    assert!(login.not_authenticated && !login.authenticated && !login.selected);
    // RFC 5161 §3.1: ENABLE only before SELECT.
    let enable = parse("a ENABLE CONDSTORE").valid_states();
    assert!(!enable.not_authenticated && enable.authenticated && !enable.selected);
    let list = parse("a LIST \"\" *").valid_states();
    assert!(!list.not_authenticated && list.authenticated && list.selected);
    let fetch = parse("a UID FETCH 1 UID").valid_states();
    assert!(!fetch.authenticated && fetch.selected);
    assert_eq!(parse("a UID FETCH 1 UID").name(), "UID FETCH");
    assert_eq!(parse("a EXAMINE x").name(), "EXAMINE");
}

/// RFC 9051 §8 (sample IMAP4rev2 connection), client side, sent as one
/// stream and split by the framer.
#[test]
fn rfc9051_sample_session_through_the_framer() {
    let stream = b"a001 login mrc secret\r\na002 select inbox\r\na003 fetch 12 full\r\na004 fetch 12 body[header]\r\na005 store 12 +flags \\deleted\r\na006 logout\r\n";
    let mut framer = Framer::new(FramerLimits::default());
    // Byte by byte: the worst case for the framer.
    let mut commands = Vec::new();
    for b in stream {
        framer.push(&[*b]);
        while let Frame::Complete(c) = framer.next_frame() {
            commands.push(parse_command(&c, REV1).unwrap());
        }
    }
    let tags: Vec<&str> = commands.iter().map(|c| c.tag.as_str()).collect();
    assert_eq!(tags, ["a001", "a002", "a003", "a004", "a005", "a006"]);
    assert!(matches!(&commands[0].body, CommandBody::Login { username, .. } if username == "mrc"));
    assert!(matches!(&commands[1].body, CommandBody::Select { mailbox, .. } if mailbox == "inbox"));
    assert!(
        matches!(&commands[2].body, CommandBody::Fetch(f) if f.items == FetchItems::Full && f.set == set("12"))
    );
    assert!(matches!(&commands[3].body, CommandBody::Fetch(f) if f.items.expand()[0].sets_seen()));
    assert!(matches!(
        &commands[4].body,
        CommandBody::Store(s) if s.mode == StoreMode::Add && s.what == StoreWhat::Flags(vec![kw("\\Deleted")])
    ));
    assert_eq!(commands[5].body, CommandBody::Logout);
}

/// RFC 9051 §6.3.12 / RFC 3501 §6.3.11: APPEND with a synchronizing
/// literal; the framer asks for the continuation exactly once.
#[test]
fn append_with_continuation_through_the_framer() {
    let mut framer = Framer::new(FramerLimits::default());
    framer.push(
        format!(
            "A003 APPEND saved-messages (\\Seen) {{{}}}\r\n",
            MESSAGE.len()
        )
        .as_bytes(),
    );
    assert_eq!(
        framer.next_frame(),
        Frame::NeedContinuation {
            size: MESSAGE.len() as u64
        }
    );
    assert_eq!(framer.next_frame(), Frame::Incomplete);
    // S: + Ready for literal data
    framer.push(MESSAGE.as_bytes());
    assert_eq!(framer.next_frame(), Frame::Incomplete);
    framer.push(b"\r\n");
    let Frame::Complete(c) = framer.next_frame() else {
        panic!()
    };
    match parse_command(&c, REV1).unwrap().body {
        CommandBody::Append { messages, .. } => assert_eq!(messages[0].data, MESSAGE.as_bytes()),
        other => panic!("{other:?}"),
    }
}

/// A client with synchronizing literals sends a command in parts, waiting
/// for `+` after each `{n}` (RFC 9051 §7.5); the framer asks for exactly
/// those continuations.
#[test]
fn encode_parts_match_the_framers_continuations() {
    let cmd = Command {
        tag: Tag::new("a").unwrap(),
        body: CommandBody::Login {
            username: "fred\r\n".into(),
            password: tidings_types::Secret::new("pass\"word\0".into()),
        },
    };
    let parts = cmd.encode_parts(REV1);
    assert_eq!(
        parts,
        vec![
            b"a LOGIN {6}\r\n".to_vec(),
            b"fred\r\n {10}\r\n".to_vec(),
            b"pass\"word\0\r\n".to_vec()
        ]
    );
    let mut framer = Framer::new(FramerLimits::default());
    for (i, part) in parts.iter().enumerate() {
        framer.push(part);
        let frame = framer.next_frame();
        if i + 1 < parts.len() {
            assert!(matches!(frame, Frame::NeedContinuation { .. }), "{frame:?}");
        } else {
            let Frame::Complete(bytes) = frame else {
                panic!("{frame:?}")
            };
            assert_eq!(parse_command(&bytes, REV1).unwrap(), cmd);
        }
    }
    assert_eq!(parse("a NOOP"), CommandBody::Noop);
    let noop = Command {
        tag: Tag::new("b").unwrap(),
        body: CommandBody::Noop,
    };
    assert_eq!(noop.encode_parts(REV1), vec![b"b NOOP\r\n".to_vec()]);
}

#[test]
fn metadata_commands_rfc5464() {
    // RFC 5464 §4.2.1–§4.2.3 examples.
    assert_eq!(
        parse("a GETMETADATA \"\" /shared/comment"),
        CommandBody::GetMetadata {
            mailbox: String::new(),
            entries: vec!["/shared/comment".into()],
            max_size: None,
            depth: MetadataDepth::Zero,
        }
    );
    assert_eq!(
        parse(
            "a GETMETADATA (MAXSIZE 1024 DEPTH infinity) INBOX (/shared/comment /private/comment)"
        ),
        CommandBody::GetMetadata {
            mailbox: "INBOX".into(),
            entries: vec!["/shared/comment".into(), "/private/comment".into()],
            max_size: Some(1024),
            depth: MetadataDepth::Infinity,
        }
    );
    assert_eq!(
        parse("a GETMETADATA (DEPTH 1) INBOX /private/filters/values"),
        CommandBody::GetMetadata {
            mailbox: "INBOX".into(),
            entries: vec!["/private/filters/values".into()],
            max_size: None,
            depth: MetadataDepth::One,
        }
    );
    assert!(
        parse_err("a GETMETADATA (DEPTH 2) INBOX /shared/x")
            .kind
            .to_string()
            .contains("DEPTH 2")
    );
    // §4.3: values as quoted strings, NIL, literals and literal8.
    assert_eq!(
        parse(
            "a SETMETADATA INBOX (/private/comment \"My new comment\" /shared/x NIL /shared/y {3}\r\nabc /shared/z ~{2}\r\na\0)"
        ),
        CommandBody::SetMetadata {
            mailbox: "INBOX".into(),
            entries: vec![
                ("/private/comment".into(), Some(b"My new comment".to_vec())),
                ("/shared/x".into(), None),
                ("/shared/y".into(), Some(b"abc".to_vec())),
                ("/shared/z".into(), Some(b"a\0".to_vec())),
            ],
        }
    );
    assert_eq!(
        CommandBody::SetMetadata {
            mailbox: String::new(),
            entries: vec![]
        }
        .valid_states(),
        CommandBody::Namespace.valid_states()
    );
}

#[test]
fn notify_rfc5465() {
    use FetchAttribute as A;
    // RFC 5465 §3.1 (with erratum 1804: each events list in parentheses).
    assert_eq!(
        parse(
            "b notify set status (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew))"
        ),
        CommandBody::Notify(Some(NotifySet {
            status: true,
            groups: vec![
                NotifyGroup {
                    filter: NotifyFilter::Selected,
                    events: vec![
                        NotifyEvent::MessageNew(vec![
                            A::Uid,
                            A::BodySection {
                                peek: true,
                                section: Section {
                                    part: vec![],
                                    text: Some(SectionText::HeaderFields {
                                        not: false,
                                        fields: vec!["from".into(), "to".into(), "subject".into()],
                                    }),
                                },
                                partial: None,
                            },
                        ]),
                        NotifyEvent::MessageExpunge,
                    ],
                },
                NotifyGroup {
                    filter: NotifyFilter::Subtree(vec!["Lists".into()]),
                    events: vec![NotifyEvent::MessageNew(vec![])],
                },
            ],
        }))
    );
    // §3.1 (erratum 2318): several mailboxes, and no STATUS indicator.
    assert_eq!(
        parse(
            "e notify set (selected (MessageNew (uid) MessageExpunge)) (subtree Lists (MessageNew)) (mailboxes (misc \"a b\") (MessageNew))"
        ),
        CommandBody::Notify(Some(NotifySet {
            status: false,
            groups: vec![
                NotifyGroup {
                    filter: NotifyFilter::Selected,
                    events: vec![
                        NotifyEvent::MessageNew(vec![A::Uid]),
                        NotifyEvent::MessageExpunge
                    ],
                },
                NotifyGroup {
                    filter: NotifyFilter::Subtree(vec!["Lists".into()]),
                    events: vec![NotifyEvent::MessageNew(vec![])],
                },
                NotifyGroup {
                    filter: NotifyFilter::Mailboxes(vec!["misc".into(), "a b".into()]),
                    events: vec![NotifyEvent::MessageNew(vec![])],
                },
            ],
        }))
    );
    // §3.2, §6: NONE, every filter, every event name; unknown events are
    // kept by name (event-ext = atom) for BADEVENT.
    assert_eq!(parse("a NOTIFY NONE"), CommandBody::Notify(None));
    match parse(
        "a NOTIFY SET (selected-delayed NONE) (inboxes (MessageNew MessageExpunge FlagChange AnnotationChange)) (personal (MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)) (subscribed (X-Other))",
    ) {
        CommandBody::Notify(Some(set)) => {
            assert!(!set.status);
            let filters: Vec<_> = set.groups.iter().map(|g| g.filter.clone()).collect();
            assert_eq!(
                filters,
                vec![
                    NotifyFilter::SelectedDelayed,
                    NotifyFilter::Inboxes,
                    NotifyFilter::Personal,
                    NotifyFilter::Subscribed
                ]
            );
            assert!(set.groups[0].events.is_empty());
            let names: Vec<&str> = set.groups[1..]
                .iter()
                .flat_map(|g| g.events.iter().map(NotifyEvent::name))
                .collect();
            assert_eq!(
                names,
                [
                    "MessageNew",
                    "MessageExpunge",
                    "FlagChange",
                    "AnnotationChange",
                    "MailboxName",
                    "SubscriptionChange",
                    "MailboxMetadataChange",
                    "ServerMetadataChange",
                    "X-Other"
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        CommandBody::Notify(None).valid_states(),
        CommandBody::Namespace.valid_states()
    );
    // Syntax errors are BAD with the tag.
    for bad in [
        "a NOTIFY",
        "a NOTIFY SET",
        "a NOTIFY SET STATUS",
        "a NOTIFY SET (selected)",
        "a NOTIFY SET (selected ())",
        "a NOTIFY SET (everything (MessageNew))",
        "a NOTIFY SET (subtree (MessageNew))",
        "a NOTIFY SET (selected (MessageNew ()))",
        "a NOTIFY SET (selected (MessageNew (NOSUCHATTR)))",
        "a NOTIFY MAYBE",
    ] {
        assert!(parse_err(bad).tag.is_some(), "{bad}");
    }
}

#[test]
fn context_search_rfc5267() {
    // RFC 5267 §4.3.4 / §4.4 examples.
    match parse("B01 UID SEARCH RETURN (UPDATE) FROM \"alice\"") {
        CommandBody::Search(s) => {
            assert!(s.uid);
            assert_eq!(s.return_options, Some(vec![SearchReturn::Update]));
        }
        other => panic!("{other:?}"),
    }
    match parse("a SEARCH RETURN (CONTEXT UPDATE COUNT) UNSEEN") {
        CommandBody::Search(s) => assert_eq!(
            s.return_options,
            Some(vec![
                SearchReturn::Context,
                SearchReturn::Update,
                SearchReturn::Count
            ])
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse("B02 CANCELUPDATE \"B01\""),
        CommandBody::CancelUpdate(vec!["B01".into()])
    );
    assert_eq!(
        parse("B03 CANCELUPDATE \"B01\" \"A 2\""),
        CommandBody::CancelUpdate(vec!["B01".into(), "A 2".into()])
    );
    assert!(
        !CommandBody::CancelUpdate(vec![])
            .valid_states()
            .authenticated
    );
    assert!(parse_err("a CANCELUPDATE").tag.is_some());
    assert!(
        parse_err("a SEARCH RETURN (UPDATE UPDATE) ALL")
            .tag
            .is_some()
    );
}

/// RFC 4314 §3 ACL commands, from the RFC's examples, and RFC 8440's
/// LIST return option.
#[test]
fn acl_commands() {
    assert_eq!(
        parse("A002 SETACL INBOX/Drafts John lrQswicda"),
        CommandBody::SetAcl {
            mailbox: "INBOX/Drafts".into(),
            identifier: "John".into(),
            rights: "lrQswicda".into(),
        }
    );
    assert_eq!(
        parse("A035 SETACL INBOX/Drafts Fred \"\""),
        CommandBody::SetAcl {
            mailbox: "INBOX/Drafts".into(),
            identifier: "Fred".into(),
            rights: String::new(),
        }
    );
    assert_eq!(
        parse("A034 DELETEACL INBOX/Drafts Fred"),
        CommandBody::DeleteAcl {
            mailbox: "INBOX/Drafts".into(),
            identifier: "Fred".into(),
        }
    );
    assert_eq!(
        parse("A002 GETACL INBOX"),
        CommandBody::GetAcl {
            mailbox: "INBOX".into()
        }
    );
    assert_eq!(
        parse("a001 LISTRIGHTS ~/Mail/saved smith"),
        CommandBody::ListRights {
            mailbox: "~/Mail/saved".into(),
            identifier: "smith".into(),
        }
    );
    assert_eq!(
        parse("A003 MYRIGHTS INBOX"),
        CommandBody::MyRights {
            mailbox: "INBOX".into()
        }
    );
    assert!(!parse_err("a SETACL INBOX bob").kind.to_string().is_empty());
    let CommandBody::List(l) = parse("a LIST \"\" \"*\" RETURN (MYRIGHTS)") else {
        panic!("not a LIST");
    };
    assert_eq!(l.return_options, Some(vec![ListReturn::MyRights]));
}
