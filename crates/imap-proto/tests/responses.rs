//! Known-answer tests for the response serializer, from the example
//! dialogues of RFC 3501, RFC 9051 and the extension RFCs. Where an RFC
//! quotes a mailbox name that needs no quoting, the expected text here has
//! the atom the serializer writes.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use tidings_imap_proto::*;
use tidings_types::Keyword;

const REV1: CodecOptions = CodecOptions { utf8: false };

fn enc(r: impl Into<Response>) -> String {
    let r = r.into();
    let bytes = r.to_bytes(REV1);
    // Every response this crate writes, it can read back.
    let parsed = parse_response(&bytes, REV1)
        .unwrap_or_else(|e| panic!("{:?} did not parse: {e}", String::from_utf8_lossy(&bytes)));
    assert_eq!(parsed, r, "{}", String::from_utf8_lossy(&bytes));
    String::from_utf8(bytes).unwrap()
}

fn tag(s: &str) -> Tag {
    Tag::new(s).unwrap()
}

fn kw(s: &str) -> Keyword {
    Keyword::new(s).unwrap()
}

fn set(numbers: &[u32]) -> SequenceSet {
    SequenceSet::compact(numbers.iter().copied()).unwrap()
}

fn nb(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

fn addr(name: Option<&str>, mailbox: &str, host: &str) -> Address {
    Address {
        name: name.map(|n| n.as_bytes().to_vec()),
        adl: None,
        mailbox: nb(mailbox),
        host: nb(host),
    }
}

#[test]
fn greeting_and_status_codes() {
    // RFC 9051 §7.1
    assert_eq!(
        enc(
            Status::untagged_ok("IMAP4rev2 server ready").with_code(Code::Capability(vec![
                "IMAP4rev2".into(),
                "STARTTLS".into(),
                "AUTH=GSSAPI".into()
            ]))
        ),
        "* OK [CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI] IMAP4rev2 server ready\r\n"
    );
    assert_eq!(
        enc(Status::preauth("IMAP4rev2 server logged in as Smith")),
        "* PREAUTH IMAP4rev2 server logged in as Smith\r\n"
    );
    assert_eq!(
        enc(Status::bye("Autologout; idle for too long")),
        "* BYE Autologout; idle for too long\r\n"
    );
    assert_eq!(
        enc(Status::untagged_ok("UIDs valid").with_code(Code::UidValidity(3857529045))),
        "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
    );
    assert_eq!(
        enc(Status::untagged_ok("Predicted next UID").with_code(Code::UidNext(4392))),
        "* OK [UIDNEXT 4392] Predicted next UID\r\n"
    );
    assert_eq!(
        enc(
            Status::untagged_ok("Limited").with_code(Code::PermanentFlags {
                flags: vec![kw("\\Deleted"), kw("\\Seen")],
                any_keyword: true
            })
        ),
        "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
    );
    assert_eq!(
        enc(Status::ok(&tag("A142"), "SELECT completed").with_code(Code::ReadWrite)),
        "A142 OK [READ-WRITE] SELECT completed\r\n"
    );
    assert_eq!(
        enc(Status::ok(&tag("A932"), "EXAMINE completed").with_code(Code::ReadOnly)),
        "A932 OK [READ-ONLY] EXAMINE completed\r\n"
    );
    assert_eq!(
        enc(Status::no(&tag("A003"), "APPEND error").with_code(Code::TryCreate)),
        "A003 NO [TRYCREATE] APPEND error\r\n"
    );
    // Text is never empty and never breaks the line.
    let raw = |s: Status| String::from_utf8(Response::from(s).to_bytes(REV1)).unwrap();
    assert_eq!(raw(Status::bad(&tag("a"), "")), "a BAD done\r\n");
    assert_eq!(
        raw(Status::untagged_bad("line\r\nbreak\0")),
        "* BAD line  break \r\n"
    );
    // RFC 4315 §3 (UIDPLUS)
    assert_eq!(
        enc(
            Status::ok(&tag("A003"), "APPEND completed").with_code(Code::AppendUid {
                uid_validity: 38505,
                uids: set(&[3955])
            })
        ),
        "A003 OK [APPENDUID 38505 3955] APPEND completed\r\n"
    );
    assert_eq!(
        enc(Status::ok(&tag("A004"), "Done").with_code(Code::CopyUid {
            uid_validity: 38505,
            source: set(&[304, 319, 320]),
            destination: set(&[3956, 3957, 3958])
        })),
        "A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"
    );
    // RFC 7162 §3.1.2.1, §3.1.2.2, §3.1.3, §3.2.11
    assert_eq!(
        enc(Status::untagged_ok("Highest").with_code(Code::HighestModSeq(715194045007))),
        "* OK [HIGHESTMODSEQ 715194045007] Highest\r\n"
    );
    assert_eq!(
        enc(
            Status::untagged_ok("Sorry, this mailbox format doesn't support modsequences")
                .with_code(Code::NoModSeq)
        ),
        "* OK [NOMODSEQ] Sorry, this mailbox format doesn't support modsequences\r\n"
    );
    assert_eq!(
        enc(Status::ok(&tag("d105"), "Conditional STORE failed")
            .with_code(Code::Modified(set(&[7, 9])))),
        "d105 OK [MODIFIED 7,9] Conditional STORE failed\r\n"
    );
    assert_eq!(
        enc(Status::untagged_ok("Previous mailbox is now closed").with_code(Code::Closed)),
        "* OK [CLOSED] Previous mailbox is now closed\r\n"
    );
    // RFC 8474 §4.1
    assert_eq!(
        enc(Status::ok(&tag("3"), "Completed")
            .with_code(Code::MailboxId("F2212ea87-6097-4256-9d51-71338625".into()))),
        "3 OK [MAILBOXID (F2212ea87-6097-4256-9d51-71338625)] Completed\r\n"
    );
    // RFC 5530 codes and friends
    for (code, text) in [
        (Code::Alert, "ALERT"),
        (Code::Parse, "PARSE"),
        (Code::NonExistent, "NONEXISTENT"),
        (Code::AlreadyExists, "ALREADYEXISTS"),
        (Code::OverQuota, "OVERQUOTA"),
        (Code::Limit, "LIMIT"),
        (Code::InUse, "INUSE"),
        (Code::Cannot, "CANNOT"),
        (Code::NoPerm, "NOPERM"),
        (Code::ServerBug, "SERVERBUG"),
        (Code::AuthenticationFailed, "AUTHENTICATIONFAILED"),
        (Code::PrivacyRequired, "PRIVACYREQUIRED"),
        (Code::UidNotSticky, "UIDNOTSTICKY"),
        (Code::TooBig, "TOOBIG"),
        // RFC 4469 §5 (errata 4046: the bare URL)
        (
            Code::BadUrl("/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9".into()),
            "BADURL /INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9",
        ),
        (Code::CompressionActive, "COMPRESSIONACTIVE"),
        (Code::UseAttr, "USEATTR"),
        (Code::UnknownCte, "UNKNOWN-CTE"),
        (Code::ExpungeIssued, "EXPUNGEISSUED"),
        (Code::Unseen(12), "UNSEEN 12"),
        (Code::BadCharset(vec![]), "BADCHARSET"),
        // RFC 5465 §5.8, §8
        (Code::NotificationOverflow, "NOTIFICATIONOVERFLOW"),
        (
            Code::BadEvent(vec!["AnnotationChange".into(), "XFoo".into()]),
            "BADEVENT (AnnotationChange XFoo)",
        ),
        (
            Code::Other {
                name: "X-FOO".into(),
                text: Some("bar]baz".into()),
            },
            "X-FOO bar baz",
        ),
    ] {
        let expected = format!("t NO [{text}] x\r\n");
        let r = Response::from(Status::no(&tag("t"), "x").with_code(code.clone()));
        assert_eq!(String::from_utf8(r.to_bytes(REV1)).unwrap(), expected);
        if !matches!(code, Code::Other { .. }) {
            assert_eq!(parse_response(expected.as_bytes(), REV1).unwrap(), r);
        }
    }
}

#[test]
fn continuation_requests() {
    assert_eq!(
        enc(Continue::Text("Ready for additional command text".into())),
        "+ Ready for additional command text\r\n"
    );
    // RFC 4959: an empty challenge
    assert_eq!(enc(Continue::Challenge(vec![])), "+ \r\n");
    assert_eq!(enc(Continue::Challenge(b"test".to_vec())), "+ dGVzdA==\r\n");
}

#[test]
fn mailbox_data() {
    assert_eq!(
        enc(Data::Capability(vec![
            "IMAP4rev2".into(),
            "AUTH=PLAIN".into()
        ])),
        "* CAPABILITY IMAP4rev2 AUTH=PLAIN\r\n"
    );
    assert_eq!(enc(Data::Exists(172)), "* 172 EXISTS\r\n");
    assert_eq!(enc(Data::Recent(1)), "* 1 RECENT\r\n");
    assert_eq!(enc(Data::Expunge(44)), "* 44 EXPUNGE\r\n");
    assert_eq!(
        enc(Data::Flags(vec![
            kw("\\Answered"),
            kw("\\Flagged"),
            kw("\\Deleted"),
            kw("\\Seen"),
            kw("\\Draft")
        ])),
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
    );
    let item = |attrs: &[&str], mailbox: &str| ListItem {
        attributes: attrs.iter().map(|a| a.to_string()).collect(),
        delimiter: Some('/'),
        mailbox: mailbox.into(),
        child_info: vec![],
        old_name: None,
    };
    assert_eq!(
        enc(Data::List(item(&["\\Noselect"], ""))),
        "* LIST (\\Noselect) \"/\" \"\"\r\n"
    );
    assert_eq!(
        enc(Data::List(item(
            &["\\HasNoChildren", "\\Sent"],
            "Sent Items"
        ))),
        "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n"
    );
    // RFC 5258 §5 CHILDINFO, RFC 9051 OLDNAME, modified UTF-7 out
    let mut l = item(&[], "Foo");
    l.child_info = vec!["SUBSCRIBED".into()];
    assert_eq!(
        enc(Data::List(l)),
        "* LIST () \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
    );
    let mut l = item(&["\\HasNoChildren"], "Entwürfe");
    l.old_name = Some("Drafts".into());
    assert_eq!(
        enc(Data::List(l.clone())),
        "* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe (\"OLDNAME\" (Drafts))\r\n"
    );
    assert_eq!(
        String::from_utf8(Response::from(Data::List(l)).to_bytes(CodecOptions { utf8: true }))
            .unwrap(),
        "* LIST (\\HasNoChildren) \"/\" \"Entwürfe\" (\"OLDNAME\" (Drafts))\r\n"
    );
    let mut l = item(&[], "flat");
    l.delimiter = None;
    assert_eq!(enc(Data::Lsub(l)), "* LSUB () NIL flat\r\n");
    // RFC 9051 §7.2.4 and extensions
    assert_eq!(
        enc(Data::Status {
            mailbox: "blurdybloop".into(),
            items: vec![StatusValue::Messages(231), StatusValue::UidNext(44292)]
        }),
        "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"
    );
    assert_eq!(
        enc(Data::Status {
            mailbox: "INBOX".into(),
            items: vec![
                StatusValue::Size(1073741824),
                StatusValue::HighestModSeq(7011231777),
                StatusValue::AppendLimit(None),
                StatusValue::AppendLimit(Some(257890)),
                StatusValue::MailboxId("F2212ea87".into()),
                StatusValue::UidValidity(1),
                StatusValue::Unseen(2),
                StatusValue::Deleted(3),
                StatusValue::Recent(4),
            ]
        }),
        "* STATUS INBOX (SIZE 1073741824 HIGHESTMODSEQ 7011231777 APPENDLIMIT NIL APPENDLIMIT 257890 MAILBOXID (F2212ea87) UIDVALIDITY 1 UNSEEN 2 DELETED 3 RECENT 4)\r\n"
    );
    // RFC 7162 §3.2.10
    assert_eq!(
        enc(Data::Vanished {
            earlier: true,
            uids: set(&[41, 43, 44, 45, 118, 120, 121])
        }),
        "* VANISHED (EARLIER) 41,43:45,118,120:121\r\n"
    );
    assert_eq!(
        enc(Data::Vanished {
            earlier: false,
            uids: set(&[405])
        }),
        "* VANISHED 405\r\n"
    );
    assert_eq!(
        enc(Data::Enabled(vec!["CONDSTORE".into()])),
        "* ENABLED CONDSTORE\r\n"
    );
    assert_eq!(enc(Data::Enabled(vec![])), "* ENABLED\r\n");
}

#[test]
fn search_sort_thread() {
    assert_eq!(
        enc(Data::Search {
            ids: vec![2, 84, 882],
            mod_seq: None
        }),
        "* SEARCH 2 84 882\r\n"
    );
    assert_eq!(
        enc(Data::Search {
            ids: vec![],
            mod_seq: None
        }),
        "* SEARCH\r\n"
    );
    // RFC 7162 §3.1.5
    assert_eq!(
        enc(Data::Search {
            ids: vec![2, 5, 6, 7, 11, 12, 18, 19, 20, 23],
            mod_seq: Some(917162500)
        }),
        "* SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)\r\n"
    );
    // RFC 4731 §3.1
    assert_eq!(
        enc(Data::ESearch(ESearch {
            tag: Some(tag("A285")),
            uid: true,
            min: Some(7),
            max: Some(3800),
            ..Default::default()
        })),
        "* ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800\r\n"
    );
    assert_eq!(
        enc(Data::ESearch(ESearch {
            tag: Some(tag("A284")),
            count: Some(0),
            ..Default::default()
        })),
        "* ESEARCH (TAG \"A284\") COUNT 0\r\n"
    );
    assert_eq!(
        enc(Data::ESearch(ESearch {
            tag: Some(tag("A283")),
            all: Some(set(&[2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19])),
            mod_seq: Some(9),
            ..Default::default()
        })),
        "* ESEARCH (TAG \"A283\") ALL 2,10:19 MODSEQ 9\r\n"
    );
    assert_eq!(
        enc(Data::ESearch(ESearch {
            tag: Some(tag("A")),
            ..Default::default()
        })),
        "* ESEARCH (TAG \"A\")\r\n"
    );
    assert_eq!(
        enc(Data::Sort {
            ids: vec![2, 84, 882],
            mod_seq: None
        }),
        "* SORT 2 84 882\r\n"
    );
    // RFC 5256 §4
    let leaf = |n: &[u32]| ThreadTree {
        members: n.to_vec(),
        children: vec![],
    };
    assert_eq!(
        enc(Data::Thread(vec![
            leaf(&[2]),
            ThreadTree {
                members: vec![3, 6],
                children: vec![leaf(&[4, 23]), leaf(&[44, 7, 96])]
            },
        ])),
        "* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"
    );
    assert_eq!(
        enc(Data::Thread(vec![ThreadTree {
            members: vec![],
            children: vec![leaf(&[3]), leaf(&[5])]
        }])),
        "* THREAD ((3)(5))\r\n"
    );
    assert_eq!(enc(Data::Thread(vec![])), "* THREAD\r\n");
    // A single child continues the chain.
    let chain = ThreadTree {
        members: vec![1],
        children: vec![leaf(&[2])],
    };
    assert_eq!(
        String::from_utf8(Response::from(Data::Thread(vec![chain])).to_bytes(REV1)).unwrap(),
        "* THREAD (1 2)\r\n"
    );
}

#[test]
fn namespace_id_quota() {
    // RFC 2342 §5
    assert_eq!(
        enc(Data::Namespace {
            personal: vec![NamespaceDesc {
                prefix: "".into(),
                delimiter: Some('/')
            }],
            other: vec![],
            shared: vec![]
        }),
        "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"
    );
    assert_eq!(
        enc(Data::Namespace {
            personal: vec![NamespaceDesc {
                prefix: "".into(),
                delimiter: Some('/')
            }],
            other: vec![NamespaceDesc {
                prefix: "~".into(),
                delimiter: Some('/')
            }],
            shared: vec![
                NamespaceDesc {
                    prefix: "#shared/".into(),
                    delimiter: Some('/')
                },
                NamespaceDesc {
                    prefix: "#public/".into(),
                    delimiter: None
                }
            ]
        }),
        "* NAMESPACE ((\"\" \"/\")) ((\"~\" \"/\")) ((\"#shared/\" \"/\")(\"#public/\" NIL))\r\n"
    );
    // RFC 2971 §3.1
    assert_eq!(
        enc(Data::Id(Some(vec![
            ("name".into(), Some("Cyrus".into())),
            ("version".into(), Some("1.5".into())),
            (
                "support-url".into(),
                Some("mailto:cyrus-bugs+@andrew.cmu.edu".into())
            ),
            ("date".into(), None),
        ]))),
        "* ID (\"name\" \"Cyrus\" \"version\" \"1.5\" \"support-url\" \"mailto:cyrus-bugs+@andrew.cmu.edu\" \"date\" NIL)\r\n"
    );
    assert_eq!(enc(Data::Id(None)), "* ID NIL\r\n");
    // RFC 9208 §5
    assert_eq!(
        enc(Data::Quota {
            root: "".into(),
            resources: vec![QuotaResource {
                name: "STORAGE".into(),
                usage: 10,
                limit: 512
            }]
        }),
        "* QUOTA \"\" (STORAGE 10 512)\r\n"
    );
    assert_eq!(
        enc(Data::QuotaRoot {
            mailbox: "INBOX".into(),
            roots: vec!["".into()]
        }),
        "* QUOTAROOT INBOX \"\"\r\n"
    );
    assert_eq!(
        enc(Data::QuotaRoot {
            mailbox: "comp.mail.mime".into(),
            roots: vec![]
        }),
        "* QUOTAROOT comp.mail.mime\r\n"
    );
}

fn rfc3501_envelope() -> Envelope {
    let gray = addr(Some("Terry Gray"), "gray", "cac.washington.edu");
    Envelope {
        date: nb("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)"),
        subject: nb("IMAP4rev1 WG mtg summary and minutes"),
        from: vec![gray.clone()],
        sender: vec![gray.clone()],
        reply_to: vec![gray],
        to: vec![addr(None, "imap", "cac.washington.edu")],
        cc: vec![
            addr(None, "minutes", "CNRI.Reston.VA.US"),
            addr(Some("John Klensin"), "KLENSIN", "MIT.EDU"),
        ],
        bcc: vec![],
        in_reply_to: None,
        message_id: nb("<B27397-0100000@cac.washington.edu>"),
    }
}

fn text_plain(size: u32, lines: u32, params: &[(&str, &str)]) -> SinglePart {
    SinglePart {
        media_type: "TEXT".into(),
        subtype: "PLAIN".into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        id: None,
        description: None,
        encoding: "7BIT".into(),
        size,
        kind: SinglePartKind::Text { lines },
        ext: None,
    }
}

#[test]
fn fetch_rfc3501_example() {
    // RFC 3501 §8 (the sample session)
    let date = DateTime::new(Date::new(1996, 7, 17).unwrap(), 2, 44, 25, -420).unwrap();
    assert_eq!(
        enc(Data::Fetch {
            seq: 12,
            items: vec![
                FetchItem::Flags {
                    flags: vec![kw("\\Seen")],
                    recent: false
                },
                FetchItem::InternalDate(date),
                FetchItem::Rfc822Size(4286),
                FetchItem::Envelope(Box::new(rfc3501_envelope())),
                FetchItem::Body(Box::new(BodyStructure::Single(text_plain(
                    3028,
                    92,
                    &[("CHARSET", "US-ASCII")]
                )))),
            ]
        }),
        concat!(
            "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" ",
            "RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" ",
            "\"IMAP4rev1 WG mtg summary and minutes\" ",
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ",
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ",
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ",
            "((NIL NIL \"imap\" \"cac.washington.edu\")) ",
            "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")",
            "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL ",
            "\"<B27397-0100000@cac.washington.edu>\") ",
            "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n"
        )
    );
}

#[test]
fn fetch_bodystructure_multipart_and_message() {
    // RFC 3501 §7.4.2 BODYSTRUCTURE example, with extension data added.
    let mut diff = text_plain(4554, 73, &[("CHARSET", "US-ASCII"), ("NAME", "cc.diff")]);
    diff.id = nb("<960723163407.20117h@cac.washington.edu>");
    diff.description = nb("Compiler diff");
    diff.encoding = "BASE64".into();
    let mut first = text_plain(1152, 23, &[("CHARSET", "US-ASCII")]);
    first.ext = Some(SinglePartExt {
        md5: None,
        disposition: Some(Disposition {
            kind: "inline".into(),
            params: vec![],
        }),
        language: vec!["en".into()],
        location: None,
    });
    let mp = BodyStructure::Multipart(Multipart {
        parts: vec![BodyStructure::Single(first), BodyStructure::Single(diff)],
        subtype: "MIXED".into(),
        ext: Some(MultipartExt {
            params: vec![("BOUNDARY".into(), "xyz".into())],
            disposition: None,
            language: vec!["en".into(), "de".into()],
            location: nb("http://x/"),
        }),
    });
    assert_eq!(
        enc(Data::Fetch {
            seq: 1,
            items: vec![FetchItem::BodyStructure(Box::new(mp.clone()))]
        }),
        concat!(
            "* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23 ",
            "NIL (\"inline\" NIL) \"en\" NIL)",
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") ",
            "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) ",
            "\"MIXED\" (\"BOUNDARY\" \"xyz\") NIL (\"en\" \"de\") \"http://x/\"))\r\n"
        )
    );
    // BODY leaves extension data out.
    let body = Response::from(Data::Fetch {
        seq: 1,
        items: vec![FetchItem::Body(Box::new(mp))],
    });
    let text = String::from_utf8(body.to_bytes(REV1)).unwrap();
    assert!(text.ends_with("4554 73) \"MIXED\"))\r\n"), "{text}");
    // message/rfc822 with an image inside
    let image = SinglePart {
        media_type: "IMAGE".into(),
        subtype: "PNG".into(),
        params: vec![],
        id: None,
        description: None,
        encoding: "BASE64".into(),
        size: 100,
        kind: SinglePartKind::Basic,
        ext: None,
    };
    let msg = SinglePart {
        media_type: "MESSAGE".into(),
        subtype: "RFC822".into(),
        params: vec![],
        id: None,
        description: None,
        encoding: "7BIT".into(),
        size: 500,
        kind: SinglePartKind::Message {
            envelope: Box::new(Envelope::default()),
            body: Box::new(BodyStructure::Single(image)),
            lines: 10,
        },
        ext: None,
    };
    assert_eq!(
        enc(Data::Fetch {
            seq: 2,
            items: vec![FetchItem::BodyStructure(Box::new(BodyStructure::Single(
                msg
            )))]
        }),
        "* 2 FETCH (BODYSTRUCTURE (\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 500 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"IMAGE\" \"PNG\" NIL NIL NIL \"BASE64\" 100) 10))\r\n"
    );
}

#[test]
fn fetch_sections_and_extensions() {
    let header = "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n\r\n";
    assert_eq!(
        enc(Data::Fetch {
            seq: 12,
            items: vec![
                FetchItem::Uid(4827313),
                FetchItem::BodySection {
                    section: Section {
                        part: vec![],
                        text: Some(SectionText::Header)
                    },
                    origin: None,
                    data: nb(header)
                }
            ]
        }),
        format!(
            "* 12 FETCH (UID 4827313 BODY[HEADER] {{{}}}\r\n{header})\r\n",
            header.len()
        )
    );
    assert_eq!(
        enc(Data::Fetch {
            seq: 1,
            items: vec![
                FetchItem::BodySection {
                    section: Section {
                        part: vec![1, 2],
                        text: Some(SectionText::HeaderFields {
                            not: false,
                            fields: vec!["DATE".into(), "FROM".into()]
                        })
                    },
                    origin: Some(0),
                    data: None
                },
                FetchItem::Rfc822(nb("x")),
                FetchItem::Rfc822Header(nb("y")),
                FetchItem::Rfc822Text(None),
            ]
        }),
        "* 1 FETCH (BODY[1.2.HEADER.FIELDS (DATE FROM)]<0> NIL RFC822 {1}\r\nx RFC822.HEADER {1}\r\ny RFC822.TEXT NIL)\r\n"
    );
    // RFC 3516 §4.2: literal8 only when there is a NUL.
    assert_eq!(
        enc(Data::Fetch {
            seq: 1,
            items: vec![
                FetchItem::Binary {
                    part: vec![1],
                    origin: None,
                    data: Some(b"a\0b".to_vec())
                },
                FetchItem::Binary {
                    part: vec![2],
                    origin: Some(5),
                    data: Some(b"ab".to_vec())
                },
                FetchItem::BinarySize {
                    part: vec![1],
                    size: 3
                },
            ]
        }),
        "* 1 FETCH (BINARY[1] ~{3}\r\na\0b BINARY[2]<5> {2}\r\nab BINARY.SIZE[1] 3)\r\n"
    );
    // RFC 7162 §3.1.4, RFC 8474 §5.1, RFC 8514, Gmail X-GM-EXT-1
    let save = DateTime::new(Date::new(2020, 1, 2).unwrap(), 3, 4, 5, 60).unwrap();
    assert_eq!(
        enc(Data::Fetch {
            seq: 1,
            items: vec![
                FetchItem::ModSeq(12121231000),
                FetchItem::EmailId("M6d99ac3275bb4e".into()),
                FetchItem::ThreadId(Some("T64b478a75b7ea9".into())),
                FetchItem::ThreadId(None),
                FetchItem::SaveDate(Some(save)),
                FetchItem::SaveDate(None),
                FetchItem::Preview(Some("Hi, \"you\"".into())),
                FetchItem::Preview(None),
                FetchItem::XGmThrId(1278455344230334865),
                FetchItem::XGmMsgId(1278455344230334865),
                FetchItem::XGmLabels(vec![
                    "\\Inbox".into(),
                    "\\Sent".into(),
                    "Important".into(),
                    "Muy Importante".into(),
                    "Entwürfe".into()
                ]),
                FetchItem::Flags {
                    flags: vec![],
                    recent: true
                },
            ]
        }),
        concat!(
            "* 1 FETCH (MODSEQ (12121231000) EMAILID (M6d99ac3275bb4e) THREADID (T64b478a75b7ea9) ",
            "THREADID NIL SAVEDATE \" 2-Jan-2020 03:04:05 +0100\" SAVEDATE NIL ",
            "PREVIEW \"Hi, \\\"you\\\"\" PREVIEW NIL ",
            "X-GM-THRID 1278455344230334865 X-GM-MSGID 1278455344230334865 ",
            "X-GM-LABELS (\\Inbox \\Sent Important \"Muy Importante\" Entw&APw-rfe) FLAGS (\\Recent))\r\n"
        )
    );
}

#[test]
fn strings_are_quoted_or_literal_as_needed() {
    let env = Envelope {
        subject: Some("quote \" and \\ backslash".as_bytes().to_vec()),
        date: Some(b"line\r\nbreak".to_vec()),
        message_id: Some("8-bit é".as_bytes().to_vec()),
        ..Default::default()
    };
    let r = Data::Fetch {
        seq: 1,
        items: vec![FetchItem::Envelope(Box::new(env.clone()))],
    };
    assert_eq!(
        enc(r.clone()),
        "* 1 FETCH (ENVELOPE ({11}\r\nline\r\nbreak \"quote \\\" and \\\\ backslash\" NIL NIL NIL NIL NIL NIL NIL {8}\r\n8-bit é))\r\n"
    );
    // With UTF-8 enabled, 8-bit UTF-8 may be quoted (RFC 6855 §3).
    let text = String::from_utf8(Response::from(r).to_bytes(CodecOptions { utf8: true })).unwrap();
    assert!(text.ends_with("NIL \"8-bit é\"))\r\n"), "{text}");
}

/// What the load generator reads from other servers (Dovecot, Gmail): forms
/// this crate never writes but must understand.
#[test]
fn responses_from_other_servers() {
    let p = |s: &str| parse_response(s.as_bytes(), REV1).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    assert_eq!(
        p(
            "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n"
        ),
        Status::untagged_ok("Dovecot ready.")
            .with_code(Code::Capability(
                [
                    "IMAP4rev1",
                    "SASL-IR",
                    "LOGIN-REFERRALS",
                    "ID",
                    "ENABLE",
                    "IDLE",
                    "LITERAL+",
                    "AUTH=PLAIN"
                ]
                .map(String::from)
                .to_vec()
            ))
            .into()
    );
    assert_eq!(
        p("a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"),
        Status::ok(&tag("a2"), "Select completed (0.001 + 0.000 secs).")
            .with_code(Code::ReadWrite)
            .into()
    );
    assert_eq!(p("+ idling\r\n"), Continue::Text("idling".into()).into());
    assert_eq!(
        p("+ go ahead\r\n"),
        Continue::Text("go ahead".into()).into()
    );
    assert_eq!(
        p("a OK [ALERT]\r\n"),
        Status::ok(&tag("a"), "").with_code(Code::Alert).into()
    );
    assert_eq!(p("a OK\r\n"), Status::ok(&tag("a"), "").into());
    assert_eq!(
        p("* OK [URLMECH INTERNAL] x\r\n"),
        Status::untagged_ok("x")
            .with_code(Code::Other {
                name: "URLMECH".into(),
                text: Some("INTERNAL".into())
            })
            .into()
    );
    assert_eq!(
        p("* STATUS \"INBOX\" (MESSAGES 1 UIDNEXT 2)\r\n"),
        Data::Status {
            mailbox: "INBOX".into(),
            items: vec![StatusValue::Messages(1), StatusValue::UidNext(2)]
        }
        .into()
    );
    assert_eq!(
        p(
            "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent NonJunk) MODSEQ (3) INTERNALDATE \" 7-Jul-2020 10:00:00 +0000\")\r\n"
        ),
        Data::Fetch {
            seq: 1,
            items: vec![
                FetchItem::Uid(1),
                FetchItem::Flags {
                    flags: vec![kw("\\Seen"), kw("NonJunk")],
                    recent: true
                },
                FetchItem::ModSeq(3),
                FetchItem::InternalDate(
                    DateTime::new(Date::new(2020, 7, 7).unwrap(), 10, 0, 0, 0).unwrap()
                ),
            ]
        }
        .into()
    );
    // Body extensions beyond the location are read and dropped (RFC 9051 §9).
    let r = p(
        "* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL 5 \"x\" (1 (\"y\" NIL))))\r\n",
    );
    let Response::Data(Data::Fetch { items, .. }) = r else {
        panic!()
    };
    let FetchItem::BodyStructure(b) = &items[0] else {
        panic!()
    };
    assert!(matches!(
        &**b,
        BodyStructure::Single(SinglePart {
            kind: SinglePartKind::Text { lines: 1 },
            ..
        })
    ));
    // Lowercase and atoms where this crate writes quoted strings.
    assert_eq!(
        p("* quotaroot INBOX \"User quota\"\r\n"),
        Data::QuotaRoot {
            mailbox: "INBOX".into(),
            roots: vec!["User quota".into()]
        }
        .into()
    );
    assert_eq!(
        p("* LIST (\\HasNoChildren \\UnMarked) \".\" INBOX\r\n"),
        Data::List(ListItem {
            attributes: vec!["\\HasNoChildren".into(), "\\UnMarked".into()],
            delimiter: Some('.'),
            mailbox: "INBOX".into(),
            child_info: vec![],
            old_name: None
        })
        .into()
    );
}

/// Known-answer dialogues from the extension RFCs, server side.
#[test]
fn extension_rfc_dialogues() {
    // RFC 6851 §4.3 (MOVE)
    assert_eq!(
        enc(Status::untagged_ok("Moved UIDs.").with_code(Code::CopyUid {
            uid_validity: 432432,
            source: set(&(42..=69).collect::<Vec<_>>()),
            destination: set(&(1202..=1229).collect::<Vec<_>>())
        })),
        "* OK [COPYUID 432432 42:69 1202:1229] Moved UIDs.\r\n"
    );
    assert_eq!(enc(Data::Expunge(22)), "* 22 EXPUNGE\r\n");
    // RFC 5819 §4 (LIST-STATUS)
    assert_eq!(
        enc(Data::Status {
            mailbox: "Sent".into(),
            items: vec![StatusValue::Messages(99), StatusValue::Unseen(0)]
        }),
        "* STATUS Sent (MESSAGES 99 UNSEEN 0)\r\n"
    );
    // RFC 7162 §3.2.5.2 (QRESYNC SELECT)
    assert_eq!(
        enc(Status::untagged_ok("Ok").with_code(Code::HighestModSeq(20010715194045319))),
        "* OK [HIGHESTMODSEQ 20010715194045319] Ok\r\n"
    );
    assert_eq!(
        enc(Data::Vanished {
            earlier: true,
            uids: SequenceSet::compact((41..=94).chain([96, 97])).unwrap()
        }),
        "* VANISHED (EARLIER) 41:94,96:97\r\n"
    );
    assert_eq!(
        enc(Data::Fetch {
            seq: 49,
            items: vec![
                FetchItem::Uid(117),
                FetchItem::Flags {
                    flags: vec![kw("\\Seen"), kw("\\Answered")],
                    recent: false
                },
                FetchItem::ModSeq(90060115194045001)
            ]
        }),
        "* 49 FETCH (UID 117 FLAGS (\\Seen \\Answered) MODSEQ (90060115194045001))\r\n"
    );
    // RFC 8474 §5.1 (OBJECTID)
    assert_eq!(
        enc(Data::Status {
            mailbox: "foo".into(),
            items: vec![StatusValue::MailboxId(
                "F2212ea87-6097-4256-9d51-71338625".into()
            )]
        }),
        "* STATUS foo (MAILBOXID (F2212ea87-6097-4256-9d51-71338625))\r\n"
    );
    // RFC 8438 §3 (STATUS=SIZE)
    assert_eq!(
        enc(Data::Status {
            mailbox: "INBOX".into(),
            items: vec![StatusValue::Messages(2), StatusValue::Size(1073741824)]
        }),
        "* STATUS INBOX (MESSAGES 2 SIZE 1073741824)\r\n"
    );
    // RFC 5182 §2.4 (SEARCHRES): the SAVE-only ESEARCH is not sent; a MIN one is.
    assert_eq!(
        enc(Data::ESearch(ESearch {
            tag: Some(tag("A282")),
            min: Some(2),
            ..Default::default()
        })),
        "* ESEARCH (TAG \"A282\") MIN 2\r\n"
    );
    // RFC 4978 §5 (COMPRESS)
    assert_eq!(
        enc(Status::no(&tag("b"), "DEFLATE active via TLS").with_code(Code::CompressionActive)),
        "b NO [COMPRESSIONACTIVE] DEFLATE active via TLS\r\n"
    );
    // RFC 9208 §4.3 (SETQUOTA refused)
    assert_eq!(
        enc(Status::no(&tag("S0000"), "Permission denied").with_code(Code::NoPerm)),
        "S0000 NO [NOPERM] Permission denied\r\n"
    );
}

#[test]
fn metadata_response_rfc5464() {
    let line = enc(Data::Metadata {
        mailbox: "INBOX".into(),
        entries: vec![
            ("/shared/comment".into(), Some(b"Shared comment".to_vec())),
            ("/private/comment".into(), None),
        ],
    });
    assert_eq!(
        line,
        "* METADATA INBOX (/shared/comment \"Shared comment\" /private/comment NIL)\r\n"
    );
}

/// The RFC's line parses to `data`, which encodes (and parses back, in
/// `enc`) to the same line.
fn esearch_roundtrip(data: Data, line: &str) {
    let parsed = parse_response(line.as_bytes(), REV1).expect(line);
    assert_eq!(parsed, Response::from(data.clone()), "{line}");
    assert_eq!(enc(data), line);
}

#[test]
fn esort_responses_rfc5267() {
    // RFC 5267 §3.1 examples: MIN and COUNT of a SORT, and UID ALL in
    // sort order (descending UIDs are not a range).
    esearch_roundtrip(
        Data::ESearch(ESearch {
            tag: Some(tag("A283")),
            count: Some(35),
            ..Default::default()
        }),
        "* ESEARCH (TAG \"A283\") COUNT 35\r\n",
    );
    esearch_roundtrip(
        Data::ESearch(ESearch {
            tag: Some(tag("A284")),
            min: Some(1),
            ..Default::default()
        }),
        "* ESEARCH (TAG \"A284\") MIN 1\r\n",
    );
    esearch_roundtrip(
        Data::ESearch(ESearch {
            tag: Some(tag("A285")),
            uid: true,
            all: SequenceSet::in_order([23765, 23764, 23763, 23761]),
            ..Default::default()
        }),
        "* ESEARCH (TAG \"A285\") UID ALL 23765,23764,23763,23761\r\n",
    );
    // Ascending runs in sort order are ranges; the order is kept.
    esearch_roundtrip(
        Data::ESearch(ESearch {
            tag: Some(tag("A")),
            all: SequenceSet::in_order([7, 8, 9, 2, 3, 1]),
            ..Default::default()
        }),
        "* ESEARCH (TAG \"A\") ALL 7:9,2:3,1\r\n",
    );
    assert_eq!(SequenceSet::in_order([0]), None);
}

#[test]
fn partial_rfc9394() {
    // RFC 9394 §3.1: the first page, and the last 100 newest first.
    let p = |from_end, first, second| PartialRange {
        from_end,
        first,
        second,
    };
    esearch_roundtrip(
        Data::ESearch(ESearch {
            tag: Some(tag("A01")),
            uid: true,
            partial: Some((
                p(false, 1, 500),
                SequenceSet::compact((200..=250).chain(252..=300)),
            )),
            ..Default::default()
        }),
        "* ESEARCH (TAG \"A01\") UID PARTIAL (1:500 200:250,252:300)\r\n",
    );
    esearch_roundtrip(
        Data::ESearch(ESearch {
            tag: Some(tag("A02")),
            uid: true,
            partial: Some((p(true, 1, 100), None)),
            ..Default::default()
        }),
        "* ESEARCH (TAG \"A02\") UID PARTIAL (-1:-100 NIL)\r\n",
    );
    // With COUNT (RFC 9394 §3.1: COUNT is of all the results).
    esearch_roundtrip(
        Data::ESearch(ESearch {
            tag: Some(tag("A03")),
            count: Some(1034),
            partial: Some((p(false, 101, 200), SequenceSet::compact(101..=200))),
            ..Default::default()
        }),
        "* ESEARCH (TAG \"A03\") PARTIAL (101:200 101:200) COUNT 1034\r\n",
    );
    // Windows: positions 1-based, from the end with "-".
    assert_eq!(p(false, 1, 3).window(10), (0, 3));
    assert_eq!(p(false, 3, 1).window(10), (0, 3));
    assert_eq!(p(false, 9, 20).window(10), (8, 10));
    assert_eq!(p(false, 11, 20).window(10), (10, 10));
    assert_eq!(p(true, 1, 3).window(10), (7, 10));
    assert_eq!(p(true, 3, 1).window(10), (7, 10));
    assert_eq!(p(true, 9, 20).window(10), (0, 2));
    assert_eq!(p(true, 11, 20).window(10), (0, 0));
    assert_eq!(p(true, 1, u32::MAX).window(0), (0, 0));
    assert_eq!(p(true, 0, 0).window(3), (2, 3));
    assert_eq!(p(false, 0, 0).window(3), (0, 1));
    assert_eq!(p(false, u32::MAX, u32::MAX).window(3), (3, 3));
}

#[test]
fn uidonly_rfc9586() {
    // RFC 9586 §3.3: FETCH data named by UID, and the response code.
    let line = "* 25996 UIDFETCH (FLAGS (\\Flagged \\Answered) MODSEQ (12111230047))\r\n";
    let data = Data::UidFetch {
        uid: 25996,
        items: vec![
            FetchItem::Flags {
                flags: vec![kw("\\Flagged"), kw("\\Answered")],
                recent: false,
            },
            FetchItem::ModSeq(12111230047),
        ],
    };
    assert_eq!(
        parse_response(line.as_bytes(), REV1).expect(line),
        Response::from(data.clone())
    );
    assert_eq!(enc(data), line);
    assert_eq!(
        enc(Status::bad(&tag("a"), "Message numbers are not allowed").with_code(Code::UidRequired)),
        "a BAD [UIDREQUIRED] Message numbers are not allowed\r\n"
    );
}

#[test]
fn notify_responses_rfc5465() {
    // RFC 5465 §5.4: a renamed mailbox is a LIST with OLDNAME.
    let renamed = Data::List(ListItem {
        attributes: vec!["\\HasNoChildren".into()],
        delimiter: Some('/'),
        mailbox: "NewName".into(),
        child_info: vec![],
        old_name: Some("OldName".into()),
    });
    assert_eq!(
        enc(renamed),
        "* LIST (\\HasNoChildren) \"/\" NewName (\"OLDNAME\" (OldName))\r\n"
    );
    // §5.1: STATUS for a mailbox that is not selected.
    let status = Data::Status {
        mailbox: "Lists/imap".into(),
        items: vec![
            StatusValue::Messages(2),
            StatusValue::UidNext(3),
            StatusValue::Unseen(1),
        ],
    };
    assert_eq!(
        enc(status),
        "* STATUS Lists/imap (MESSAGES 2 UIDNEXT 3 UNSEEN 1)\r\n"
    );
    let overflow =
        Status::untagged_ok("Too many notifications").with_code(Code::NotificationOverflow);
    assert_eq!(
        enc(overflow),
        "* OK [NOTIFICATIONOVERFLOW] Too many notifications\r\n"
    );
}

#[test]
fn context_search_responses_rfc5267() {
    // RFC 5267 §4.3.4: updates of a search context.
    let line = "* ESEARCH (TAG \"B01\") UID REMOVEFROM (0 32768) ADDTO (0 32769:32770)\r\n";
    let data = Data::ESearch(ESearch {
        tag: Some(tag("B01")),
        uid: true,
        updates: vec![
            ContextUpdate {
                add: false,
                position: 0,
                set: set(&[32768]),
            },
            ContextUpdate {
                add: true,
                position: 0,
                set: set(&[32769, 32770]),
            },
        ],
        ..ESearch::default()
    });
    esearch_roundtrip(data, line);
    // A sorted context's positions (§4.3.3 example) parse too.
    let parsed = parse_response(
        b"* ESEARCH (TAG \"C01\") UID ADDTO (1 2733) REMOVEFROM (1 2732)\r\n",
        REV1,
    )
    .unwrap();
    assert!(
        matches!(&parsed, Response::Data(Data::ESearch(e)) if e.updates.len() == 2 && e.updates[0].position == 1)
    );
    // Several pairs in one ADDTO are several insertions in turn.
    let parsed = parse_response(
        b"* ESEARCH (TAG \"C01\") UID ADDTO (1 2733 1 2732 1 2731)\r\n",
        REV1,
    )
    .unwrap();
    assert!(
        matches!(&parsed, Response::Data(Data::ESearch(e)) if e.updates.len() == 3 && e.updates.iter().all(|u| u.add && u.position == 1))
    );
    // §4.4.1 NOUPDATE.
    let r = Status::untagged_no("Too many contexts").with_code(Code::NoUpdate("B02".into()));
    assert_eq!(enc(r), "* NO [NOUPDATE \"B02\"] Too many contexts\r\n");
}

#[test]
fn urlauth_responses() {
    // RFC 4467 §7.2, §7.3 examples
    let full = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038";
    assert_eq!(
        enc(Data::GenUrlAuth(vec![full.into()])),
        format!("* GENURLAUTH \"{full}\"\r\n")
    );
    assert_eq!(
        enc(Data::UrlFetch(vec![(
            full.into(),
            Some(b"Si vis pacem, para bellum.\r\n\r\n".to_vec())
        )])),
        format!("* URLFETCH \"{full}\" {{30}}\r\nSi vis pacem, para bellum.\r\n\r\n\r\n")
    );
    assert_eq!(
        enc(Data::UrlFetch(vec![
            ("a".into(), None),
            ("b".into(), Some(b"x\0y".to_vec()))
        ])),
        "* URLFETCH \"a\" NIL \"b\" ~{3}\r\nx\0y\r\n"
    );
}

/// RFC 4314 §3.6–§3.8 responses, as in the RFC's examples.
#[test]
fn acl_responses() {
    let acl = Data::Acl {
        mailbox: "INBOX".into(),
        entries: vec![
            ("Fred".into(), "rwipslxetad".into()),
            ("anyone".into(), "lr".into()),
        ],
    };
    assert_eq!(enc(acl), "* ACL INBOX Fred rwipslxetad anyone lr\r\n");
    let rights = Data::ListRights {
        mailbox: "~/Mail/saved".into(),
        identifier: "smith".into(),
        required: "la".into(),
        optional: vec!["r".into(), "swicdkxte".into()],
    };
    assert_eq!(
        enc(rights),
        "* LISTRIGHTS ~/Mail/saved smith la r swicdkxte\r\n"
    );
    let none = Data::ListRights {
        mailbox: "INBOX".into(),
        identifier: "bob".into(),
        required: String::new(),
        optional: vec!["l".into()],
    };
    assert_eq!(enc(none), "* LISTRIGHTS INBOX bob \"\" l\r\n");
    let mine = Data::MyRights {
        mailbox: "INBOX".into(),
        rights: "rwiptsldaex".into(),
    };
    assert_eq!(enc(mine), "* MYRIGHTS INBOX rwiptsldaex\r\n");
}

#[test]
fn inprogress_response_code() {
    // RFC 9585 §4 examples: a tag, a count and a goal; NIL parts; bare.
    for (line, code) in [
        (
            "* OK [INPROGRESS (\"A1\" 2400 10000)] Searching\r\n",
            Code::InProgress {
                tag: Some("A1".into()),
                count: Some(2400),
                goal: Some(10000),
            },
        ),
        (
            "* OK [INPROGRESS (\"A1\" NIL NIL)] Still working\r\n",
            Code::InProgress {
                tag: Some("A1".into()),
                count: None,
                goal: None,
            },
        ),
        (
            "* OK [INPROGRESS] Still working\r\n",
            Code::InProgress {
                tag: None,
                count: None,
                goal: None,
            },
        ),
    ] {
        let text = line
            .rsplit_once("] ")
            .map(|(_, t)| t.trim_end())
            .unwrap_or_default();
        let r = Status::untagged_ok(text).with_code(code);
        assert_eq!(enc(r.clone()), line);
        assert_eq!(parse_response(line.as_bytes(), REV1).unwrap(), r.into());
    }
}
