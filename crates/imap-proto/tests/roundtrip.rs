//! Property tests: `parse(encode(x)) == x` for generated commands and
//! responses, in both mailbox-name modes and both literal syntaxes, and the
//! framer returns every encoded command whole however the bytes are split.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use proptest::prelude::*;
use proptest::{collection::vec, option::of};
use tidings_imap_proto::*;
use tidings_types::{Keyword, Secret};

const MAX_I64: u64 = i64::MAX as u64;

fn tag() -> impl Strategy<Value = Tag> {
    "[A-Za-z0-9.\\-_]{1,8}".prop_map(|s| Tag::new(&s).unwrap())
}

fn atom() -> impl Strategy<Value = String> {
    "[A-Z][A-Z0-9\\-]{0,10}"
}

/// Any text, including quotes, backslashes, CR/LF, NUL and 8-bit.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9]{1,10}",
        "[ -~]{0,20}",
        any::<String>().prop_map(|s| s.chars().take(20).collect()),
        Just("quote\" back\\slash\r\nline".to_string()),
        Just(String::new()),
    ]
}

fn mailbox() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("INBOX".to_string()),
        "[a-zA-Z0-9 &/.]{0,16}",
        "[a-zA-Zäöü日本語😀&/ ]{1,12}",
        text(),
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        Just("%".to_string()),
        "[a-zA-Zä/%*]{0,10}",
        mailbox()
    ]
}

fn keyword() -> impl Strategy<Value = Keyword> {
    prop_oneof![
        Just("\\Seen"),
        Just("\\Answered"),
        Just("\\Flagged"),
        Just("\\Deleted"),
        Just("\\Draft"),
        Just("$Forwarded"),
        Just("$Junk"),
        Just("Work-2024"),
    ]
    .prop_map(|k| Keyword::new(k).unwrap())
}

fn seq_number() -> impl Strategy<Value = SeqNumber> {
    prop_oneof![
        4 => (1u32..).prop_map(SeqNumber::Value),
        1 => Just(SeqNumber::Largest),
    ]
}

fn sequence_set() -> impl Strategy<Value = SequenceSet> {
    vec(
        prop_oneof![
            8 => (seq_number(), seq_number()).prop_map(|(a, b)| SeqItem::Range(a, b)),
            1 => Just(SeqItem::Saved),
        ],
        1..5,
    )
    .prop_map(|items| SequenceSet::new(items).unwrap())
}

fn date() -> impl Strategy<Value = Date> {
    (1u16..=9999, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
}

fn date_time() -> impl Strategy<Value = DateTime> {
    (date(), 0u8..24, 0u8..60, 0u8..61, -5999i16..=5999)
        .prop_map(|(d, h, m, s, z)| DateTime::new(d, h, m, s, z).unwrap())
}

fn object_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_\\-]{1,20}"
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\\Inbox".to_string()),
        Just("\\Starred".to_string()),
        mailbox(),
    ]
}

fn search_key() -> impl Strategy<Value = SearchKey> {
    use SearchKey as K;
    let leaf = prop_oneof![
        Just(K::All),
        Just(K::Answered),
        text().prop_map(K::Bcc),
        date().prop_map(K::Before),
        text().prop_map(K::Body),
        text().prop_map(K::Cc),
        Just(K::Deleted),
        Just(K::Draft),
        Just(K::Flagged),
        text().prop_map(K::From),
        (text(), text()).prop_map(|(h, v)| K::Header(h, v)),
        keyword().prop_map(K::Keyword),
        (0..=MAX_I64).prop_map(K::Larger),
        Just(K::New),
        Just(K::Old),
        date().prop_map(K::On),
        Just(K::Recent),
        Just(K::Seen),
        date().prop_map(K::SentBefore),
        date().prop_map(K::SentOn),
        date().prop_map(K::SentSince),
        date().prop_map(K::Since),
        (0..=MAX_I64).prop_map(K::Smaller),
        text().prop_map(K::Subject),
        text().prop_map(K::Text),
        text().prop_map(K::To),
        sequence_set().prop_map(K::Uid),
        Just(K::Unanswered),
        Just(K::Undeleted),
        Just(K::Undraft),
        Just(K::Unflagged),
        keyword().prop_map(K::Unkeyword),
        Just(K::Unseen),
        sequence_set().prop_map(K::SequenceSet),
        (
            of((
                "/flags/\\\\?[A-Za-z$]{1,8}",
                prop_oneof![
                    Just(EntryType::Private),
                    Just(EntryType::Shared),
                    Just(EntryType::All)
                ]
            )),
            0..=MAX_I64
        )
            .prop_map(|(entry, mod_seq)| K::ModSeq { entry, mod_seq }),
        (1u32..).prop_map(K::Older),
        (1u32..).prop_map(K::Younger),
        date().prop_map(K::SavedBefore),
        date().prop_map(K::SavedOn),
        date().prop_map(K::SavedSince),
        Just(K::SaveDateSupported),
        object_id().prop_map(K::EmailId),
        object_id().prop_map(K::ThreadId),
        text().prop_map(K::XGmRaw),
        (0..=MAX_I64).prop_map(K::XGmMsgId),
        (0..=MAX_I64).prop_map(K::XGmThrId),
        label().prop_map(K::XGmLabels),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|k| K::Not(Box::new(k))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| K::Or(Box::new(a), Box::new(b))),
            vec(inner, 1..3).prop_map(K::And),
        ]
    })
}

fn section() -> impl Strategy<Value = Section> {
    (
        vec(1u32.., 0..3),
        of(prop_oneof![
            Just(SectionText::Header),
            Just(SectionText::Text),
            Just(SectionText::Mime),
            (any::<bool>(), vec(text(), 1..3))
                .prop_map(|(not, fields)| SectionText::HeaderFields { not, fields }),
        ]),
    )
        .prop_map(|(part, text)| {
            let text = match text {
                Some(SectionText::Mime) if part.is_empty() => Some(SectionText::Text),
                t => t,
            };
            Section { part, text }
        })
}

fn partial() -> impl Strategy<Value = Option<Partial>> {
    of((any::<u32>(), 1u32..).prop_map(|(origin, count)| Partial { origin, count }))
}

fn fetch_attribute() -> impl Strategy<Value = FetchAttribute> {
    use FetchAttribute as A;
    prop_oneof![
        Just(A::Envelope),
        Just(A::Flags),
        Just(A::InternalDate),
        Just(A::Rfc822Size),
        Just(A::Rfc822),
        Just(A::Rfc822Header),
        Just(A::Rfc822Text),
        Just(A::Body),
        Just(A::BodyStructure),
        Just(A::Uid),
        (any::<bool>(), section(), partial()).prop_map(|(peek, section, partial)| A::BodySection {
            peek,
            section,
            partial
        }),
        (any::<bool>(), vec(1u32.., 0..3), partial()).prop_map(|(peek, part, partial)| A::Binary {
            peek,
            part,
            partial
        }),
        vec(1u32.., 0..3).prop_map(|part| A::BinarySize { part }),
        Just(A::ModSeq),
        Just(A::EmailId),
        Just(A::ThreadId),
        Just(A::SaveDate),
        Just(A::Preview { lazy: false }),
        Just(A::Preview { lazy: true }),
        Just(A::XGmMsgId),
        Just(A::XGmThrId),
        Just(A::XGmLabels),
    ]
}

fn status_item() -> impl Strategy<Value = StatusItem> {
    prop_oneof![
        Just(StatusItem::Messages),
        Just(StatusItem::UidNext),
        Just(StatusItem::UidValidity),
        Just(StatusItem::Unseen),
        Just(StatusItem::Deleted),
        Just(StatusItem::Size),
        Just(StatusItem::Recent),
        Just(StatusItem::HighestModSeq),
        Just(StatusItem::AppendLimit),
        Just(StatusItem::MailboxId),
    ]
}

fn search_return() -> impl Strategy<Value = SearchReturn> {
    prop_oneof![
        Just(SearchReturn::Min),
        Just(SearchReturn::Max),
        Just(SearchReturn::All),
        Just(SearchReturn::Count),
        Just(SearchReturn::Save),
        Just(SearchReturn::Context),
        Just(SearchReturn::Update),
        partial_range().prop_map(SearchReturn::Partial),
    ]
}

fn partial_range() -> impl Strategy<Value = PartialRange> {
    (any::<bool>(), 1u32.., 1u32..).prop_map(|(from_end, first, second)| PartialRange {
        from_end,
        first,
        second,
    })
}

/// Return options the parser accepts: RFC 9394 §3.1 allows one PARTIAL,
/// and not with ALL.
fn search_returns() -> impl Strategy<Value = Vec<SearchReturn>> {
    vec(search_return(), 0..3).prop_filter("one PARTIAL, not with ALL; one UPDATE", |v| {
        let p = v
            .iter()
            .filter(|o| matches!(o, SearchReturn::Partial(_)))
            .count();
        let u = v.iter().filter(|o| **o == SearchReturn::Update).count();
        u <= 1 && (p == 0 || (p == 1 && !v.contains(&SearchReturn::All)))
    })
}

fn charset() -> impl Strategy<Value = String> {
    prop_oneof![Just("UTF-8".to_string()), Just("US-ASCII".to_string())]
}

fn sort_criterion() -> impl Strategy<Value = SortCriterion> {
    (
        any::<bool>(),
        prop_oneof![
            Just(SortKey::Arrival),
            Just(SortKey::Cc),
            Just(SortKey::Date),
            Just(SortKey::From),
            Just(SortKey::Size),
            Just(SortKey::Subject),
            Just(SortKey::To),
            Just(SortKey::DisplayFrom),
            Just(SortKey::DisplayTo),
        ],
    )
        .prop_map(|(reverse, key)| SortCriterion { reverse, key })
}

fn command_body() -> impl Strategy<Value = CommandBody> {
    use CommandBody as B;
    let simple = prop_oneof![
        Just(B::Capability),
        Just(B::Noop),
        Just(B::Logout),
        Just(B::StartTls),
        Just(B::Namespace),
        Just(B::Idle),
        Just(B::Check),
        Just(B::Close),
        Just(B::Unselect),
        Just(B::Expunge),
        sequence_set().prop_map(B::UidExpunge),
        (atom(), of(vec(any::<u8>(), 0..20))).prop_map(|(mechanism, ir)| B::Authenticate {
            mechanism,
            initial_response: ir.map(Secret::new)
        }),
        (text(), text()).prop_map(|(u, p)| B::Login {
            username: u,
            password: Secret::new(p)
        }),
        vec(atom(), 1..4).prop_map(B::Enable),
        mailbox().prop_map(|mailbox| B::Delete { mailbox }),
        mailbox().prop_map(|mailbox| B::Subscribe { mailbox }),
        mailbox().prop_map(|mailbox| B::Unsubscribe { mailbox }),
        (mailbox(), mailbox()).prop_map(|(from, to)| B::Rename { from, to }),
        (mailbox(), pattern()).prop_map(|(reference, pattern)| B::Lsub { reference, pattern }),
        (mailbox(), vec(status_item(), 1..5))
            .prop_map(|(mailbox, items)| B::Status { mailbox, items }),
        of(vec((text(), of(text())), 0..4)).prop_map(B::Id),
        text().prop_map(B::GetQuota),
        mailbox().prop_map(B::GetQuotaRoot),
        (text(), vec((atom(), 0..=MAX_I64), 0..3))
            .prop_map(|(root, limits)| B::SetQuota { root, limits }),
        atom().prop_map(B::Compress),
    ];
    let select = (
        mailbox(),
        any::<bool>(),
        any::<bool>(),
        of((
            1u32..,
            0..=MAX_I64,
            of(sequence_set()),
            of((sequence_set(), sequence_set())),
        )),
    )
        .prop_map(|(mailbox, read_only, condstore, q)| B::Select {
            mailbox,
            read_only,
            params: SelectParams {
                condstore,
                qresync: q.map(
                    |(uid_validity, mod_seq, known_uids, seq_match)| QresyncParams {
                        uid_validity,
                        mod_seq,
                        known_uids,
                        seq_match,
                    },
                ),
            },
        });
    let create = (
        mailbox(),
        vec(
            prop_oneof![Just("\\Sent"), Just("\\Trash"), Just("\\Important")],
            0..3,
        ),
    )
        .prop_map(|(mailbox, su)| B::Create {
            mailbox,
            special_use: su.into_iter().map(String::from).collect(),
        });
    let list = (
        vec(
            prop_oneof![
                Just(ListSelect::Subscribed),
                Just(ListSelect::Remote),
                Just(ListSelect::RecursiveMatch),
                Just(ListSelect::SpecialUse)
            ],
            0..3,
        ),
        mailbox(),
        vec(pattern(), 1..3),
        of(vec(
            prop_oneof![
                Just(ListReturn::Subscribed),
                Just(ListReturn::Children),
                Just(ListReturn::SpecialUse),
                vec(status_item(), 1..3).prop_map(ListReturn::Status),
            ],
            0..3,
        )),
    )
        .prop_map(|(selection, reference, patterns, return_options)| {
            B::List(List {
                selection,
                reference,
                patterns,
                return_options,
            })
        });
    let append_message = || {
        (
            vec(keyword(), 0..3),
            of(date_time()),
            vec(any::<u8>(), 0..40),
            prop_oneof![
                Just(AppendDataKind::Literal),
                Just(AppendDataKind::Literal8),
                Just(AppendDataKind::Utf8),
                // RFC 4469 §5; the message's data is empty then.
                vec(
                    prop_oneof![
                        (
                            vec(any::<u8>(), 0..20),
                            prop_oneof![
                                Just(TextKind::Literal),
                                Just(TextKind::Literal8),
                                Just(TextKind::Utf8)
                            ]
                        )
                            .prop_map(|(data, kind)| CatPart::Text { data, kind }),
                        text()
                            .prop_filter("no CR, LF, NUL", |t| !t.contains(['\r', '\n', '\0']))
                            .prop_map(CatPart::Url),
                    ],
                    1..4
                )
                .prop_map(AppendDataKind::Catenate),
            ],
        )
            .prop_map(|(flags, date, data, kind)| AppendMessage {
                flags,
                date,
                data: if matches!(kind, AppendDataKind::Catenate(_)) {
                    Vec::new()
                } else {
                    data
                },
                kind,
            })
    };
    let append = (mailbox(), vec(append_message(), 1..3))
        .prop_map(|(mailbox, messages)| B::Append { mailbox, messages });
    // RFC 8508
    let replace = (
        any::<bool>(),
        prop_oneof![
            (1..=u32::MAX).prop_map(SeqNumber::Value),
            Just(SeqNumber::Largest)
        ],
        mailbox(),
        append_message(),
    )
        .prop_map(|(uid, number, mailbox, message)| B::Replace {
            uid,
            number,
            mailbox,
            message,
        });
    let search = (
        any::<bool>(),
        of(search_returns()),
        of(charset()),
        vec(search_key(), 1..4),
    )
        .prop_map(|(uid, return_options, charset, criteria)| {
            B::Search(Search {
                uid,
                return_options,
                charset,
                criteria,
            })
        });
    let fetch = (
        any::<bool>(),
        sequence_set(),
        prop_oneof![
            Just(FetchItems::All),
            Just(FetchItems::Fast),
            Just(FetchItems::Full),
            vec(fetch_attribute(), 1..5).prop_map(FetchItems::Attributes),
        ],
        of(0..=MAX_I64),
        any::<bool>(),
        of(partial_range()),
    )
        .prop_map(|(uid, set, items, changed_since, vanished, partial)| {
            B::Fetch(Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
                partial,
            })
        });
    let store = (
        any::<bool>(),
        sequence_set(),
        of(0..=MAX_I64),
        prop_oneof![
            Just(StoreMode::Replace),
            Just(StoreMode::Add),
            Just(StoreMode::Remove)
        ],
        any::<bool>(),
        prop_oneof![
            vec(keyword(), 0..3).prop_map(StoreWhat::Flags),
            vec(label(), 0..3).prop_map(StoreWhat::GmLabels),
        ],
    )
        .prop_map(|(uid, set, unchanged_since, mode, silent, what)| {
            B::Store(Store {
                uid,
                set,
                unchanged_since,
                mode,
                silent,
                what,
            })
        });
    let copy_move = (any::<bool>(), any::<bool>(), sequence_set(), mailbox()).prop_map(
        |(is_move, uid, set, mailbox)| {
            if is_move {
                B::Move { uid, set, mailbox }
            } else {
                B::Copy { uid, set, mailbox }
            }
        },
    );
    let sort = (
        any::<bool>(),
        of(search_returns()),
        vec(sort_criterion(), 1..3),
        charset(),
        vec(search_key(), 1..3),
    )
        .prop_map(|(uid, return_options, criteria, charset, search)| {
            B::Sort(Sort {
                uid,
                return_options,
                criteria,
                charset,
                search,
            })
        });
    let thread = (
        any::<bool>(),
        prop_oneof![
            Just(ThreadAlgorithm::OrderedSubject),
            Just(ThreadAlgorithm::References),
            Just(ThreadAlgorithm::Other("X-FANCY".into())),
        ],
        charset(),
        vec(search_key(), 1..3),
    )
        .prop_map(|(uid, algorithm, charset, search)| {
            B::Thread(Thread {
                uid,
                algorithm,
                charset,
                search,
            })
        });
    // RFC 5465 NOTIFY (an unknown event is an atom that names none of
    // the known ones) and RFC 5267 CANCELUPDATE.
    let event = prop_oneof![
        vec(fetch_attribute(), 0..3).prop_map(NotifyEvent::MessageNew),
        Just(NotifyEvent::MessageExpunge),
        Just(NotifyEvent::FlagChange),
        Just(NotifyEvent::AnnotationChange),
        Just(NotifyEvent::MailboxName),
        Just(NotifyEvent::SubscriptionChange),
        Just(NotifyEvent::MailboxMetadataChange),
        Just(NotifyEvent::ServerMetadataChange),
        atom().prop_map(|a| match NotifyEvent::named(&a) {
            NotifyEvent::Other(a) => NotifyEvent::Other(a),
            _ => NotifyEvent::Other(format!("X-{a}")),
        }),
    ];
    let filter = prop_oneof![
        Just(NotifyFilter::Selected),
        Just(NotifyFilter::SelectedDelayed),
        Just(NotifyFilter::Inboxes),
        Just(NotifyFilter::Personal),
        Just(NotifyFilter::Subscribed),
        vec(mailbox(), 1..3).prop_map(NotifyFilter::Subtree),
        vec(mailbox(), 1..3).prop_map(NotifyFilter::Mailboxes),
    ];
    let notify = prop_oneof![
        Just(B::Notify(None)),
        (any::<bool>(), vec((filter, vec(event, 0..3)), 1..3)).prop_map(|(status, groups)| {
            B::Notify(Some(NotifySet {
                status,
                groups: groups
                    .into_iter()
                    .map(|(filter, events)| NotifyGroup { filter, events })
                    .collect(),
            }))
        }),
        vec(atom(), 1..3).prop_map(B::CancelUpdate),
    ];
    // RFC 4467
    let mechanism = || prop_oneof![Just("INTERNAL".to_string()), "[A-Z0-9][A-Z0-9.-]{0,8}"];
    let urlauth = prop_oneof![
        (of(mailbox()), vec(mechanism(), 0..3)).prop_map(|(mailbox, mechanisms)| {
            B::ResetKey {
                mechanisms: if mailbox.is_some() {
                    mechanisms
                } else {
                    Vec::new()
                },
                mailbox,
            }
        }),
        vec((text(), mechanism()), 1..3).prop_map(B::GenUrlAuth),
        vec(text(), 1..3).prop_map(B::UrlFetch),
    ]
    .prop_filter("no CR, LF, NUL in URLs", |b| match b {
        B::GenUrlAuth(u) => u.iter().all(|(u, _)| !u.contains(['\r', '\n', '\0'])),
        B::UrlFetch(u) => u.iter().all(|u| !u.contains(['\r', '\n', '\0'])),
        _ => true,
    });
    // RFC 4314 §3.
    let acl = prop_oneof![
        (mailbox(), text(), text()).prop_map(|(mailbox, identifier, rights)| B::SetAcl {
            mailbox,
            identifier,
            rights
        }),
        (mailbox(), text()).prop_map(|(mailbox, identifier)| B::DeleteAcl {
            mailbox,
            identifier
        }),
        (mailbox(), text()).prop_map(|(mailbox, identifier)| B::ListRights {
            mailbox,
            identifier
        }),
        mailbox().prop_map(|mailbox| B::GetAcl { mailbox }),
        mailbox().prop_map(|mailbox| B::MyRights { mailbox }),
    ];
    prop_oneof![
        simple, select, create, list, append, replace, search, fetch, store, copy_move, sort,
        thread, notify, urlauth, acl
    ]
}

fn keywords() -> impl Strategy<Value = Vec<Keyword>> {
    vec(keyword(), 0..4)
}

fn code() -> impl Strategy<Value = Code> {
    prop_oneof![
        Just(Code::Alert),
        Just(Code::AlreadyExists),
        Just(Code::Closed),
        Just(Code::NoModSeq),
        Just(Code::NonExistent),
        Just(Code::OverQuota),
        Just(Code::ReadOnly),
        Just(Code::ReadWrite),
        Just(Code::ServerBug),
        Just(Code::TooBig),
        Just(Code::TryCreate),
        Just(Code::UnknownCte),
        vec(atom(), 0..3).prop_map(Code::BadCharset),
        vec(atom(), 1..4).prop_map(Code::Capability),
        (keywords(), any::<bool>())
            .prop_map(|(flags, any_keyword)| Code::PermanentFlags { flags, any_keyword }),
        any::<u32>().prop_map(Code::UidNext),
        any::<u32>().prop_map(Code::UidValidity),
        any::<u32>().prop_map(Code::Unseen),
        (0..=MAX_I64).prop_map(Code::HighestModSeq),
        (any::<u32>(), sequence_set())
            .prop_map(|(uid_validity, uids)| Code::AppendUid { uid_validity, uids }),
        (any::<u32>(), sequence_set(), sequence_set()).prop_map(
            |(uid_validity, source, destination)| {
                Code::CopyUid {
                    uid_validity,
                    source,
                    destination,
                }
            }
        ),
        sequence_set().prop_map(Code::Modified),
        object_id().prop_map(Code::MailboxId),
        "[!-\\\\^-~]{1,30}".prop_map(Code::BadUrl),
        (atom(), of("[a-z][a-z ]{0,10}[a-z]")).prop_map(|(name, text)| Code::Other {
            name: format!("X-{name}"),
            text
        }),
    ]
}

fn status() -> impl Strategy<Value = Status> {
    (
        of(tag()),
        prop_oneof![
            Just(StatusKind::Ok),
            Just(StatusKind::No),
            Just(StatusKind::Bad),
            Just(StatusKind::PreAuth),
            Just(StatusKind::Bye)
        ],
        of(code()),
        "[a-zA-Z0-9][a-zA-Z0-9 .,;:!?'é日-]{0,30}",
    )
        .prop_map(|(tag, kind, code, text)| {
            // PREAUTH and BYE are untagged only.
            let tag = if matches!(kind, StatusKind::PreAuth | StatusKind::Bye) {
                None
            } else {
                tag
            };
            Status {
                tag,
                kind,
                code,
                text,
            }
        })
}

fn nbytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    of(prop_oneof![
        "[ -~]{0,12}".prop_map(String::into_bytes),
        vec(1u8.., 0..12),
    ])
}

fn address() -> impl Strategy<Value = Address> {
    (nbytes(), nbytes(), nbytes(), nbytes()).prop_map(|(name, adl, mailbox, host)| Address {
        name,
        adl,
        mailbox,
        host,
    })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        (nbytes(), nbytes()),
        (
            vec(address(), 0..3),
            vec(address(), 0..2),
            vec(address(), 0..2),
        ),
        (
            vec(address(), 0..3),
            vec(address(), 0..2),
            vec(address(), 0..2),
        ),
        (nbytes(), nbytes()),
    )
        .prop_map(
            |(
                (date, subject),
                (from, sender, reply_to),
                (to, cc, bcc),
                (in_reply_to, message_id),
            )| Envelope {
                date,
                subject,
                from,
                sender,
                reply_to,
                to,
                cc,
                bcc,
                in_reply_to,
                message_id,
            },
        )
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    vec((atom(), text()), 0..3)
}

fn disposition() -> impl Strategy<Value = Option<Disposition>> {
    of((text(), params()).prop_map(|(kind, params)| Disposition { kind, params }))
}

fn body_structure(with_ext: bool) -> impl Strategy<Value = BodyStructure> {
    let single_ext = move || {
        (nbytes(), disposition(), vec(text(), 0..3), nbytes()).prop_map(
            move |(md5, disposition, language, location)| {
                with_ext.then_some(SinglePartExt {
                    md5,
                    disposition,
                    language,
                    location,
                })
            },
        )
    };
    let fields = (
        prop_oneof![
            Just("IMAGE".to_string()),
            Just("APPLICATION".to_string()),
            "[A-Z]{1,8}"
        ]
        .prop_filter("not text or message", |t| t != "TEXT" && t != "MESSAGE"),
        atom(),
        params(),
        nbytes(),
        nbytes(),
        prop_oneof![Just("7BIT".to_string()), Just("BASE64".to_string())],
        any::<u32>(),
    );
    let leaf = (
        fields,
        prop_oneof![Just(None), any::<u32>().prop_map(Some)],
        single_ext(),
    )
        .prop_map(
            |((media_type, subtype, params, id, description, encoding, size), text_lines, ext)| {
                let (media_type, kind) = match text_lines {
                    Some(lines) => ("TEXT".to_string(), SinglePartKind::Text { lines }),
                    None => (media_type, SinglePartKind::Basic),
                };
                BodyStructure::Single(SinglePart {
                    media_type,
                    subtype,
                    params,
                    id,
                    description,
                    encoding,
                    size,
                    kind,
                    ext,
                })
            },
        );
    leaf.prop_recursive(3, 10, 3, move |inner| {
        prop_oneof![
            (
                vec(inner.clone(), 1..3),
                atom(),
                params(),
                disposition(),
                vec(text(), 0..2),
                nbytes()
            )
                .prop_map(
                    move |(parts, subtype, params, disposition, language, location)| {
                        BodyStructure::Multipart(Multipart {
                            parts,
                            subtype,
                            ext: with_ext.then_some(MultipartExt {
                                params,
                                disposition,
                                language,
                                location,
                            }),
                        })
                    }
                ),
            (envelope(), inner, any::<u32>(), any::<u32>()).prop_map(
                |(envelope, body, lines, size)| {
                    BodyStructure::Single(SinglePart {
                        media_type: "MESSAGE".into(),
                        subtype: "RFC822".into(),
                        params: vec![],
                        id: None,
                        description: None,
                        encoding: "7BIT".into(),
                        size,
                        kind: SinglePartKind::Message {
                            envelope: Box::new(envelope),
                            body: Box::new(body),
                            lines,
                        },
                        ext: None,
                    })
                }
            ),
        ]
    })
}

fn fetch_item() -> impl Strategy<Value = FetchItem> {
    use FetchItem as F;
    prop_oneof![
        (keywords(), any::<bool>()).prop_map(|(flags, recent)| F::Flags { flags, recent }),
        date_time().prop_map(F::InternalDate),
        (0..=MAX_I64).prop_map(F::Rfc822Size),
        envelope().prop_map(|e| F::Envelope(Box::new(e))),
        body_structure(false).prop_map(|b| F::Body(Box::new(b))),
        body_structure(true).prop_map(|b| F::BodyStructure(Box::new(b))),
        (1u32..).prop_map(F::Uid),
        (section(), of(any::<u32>()), of(vec(any::<u8>(), 0..30))).prop_map(
            |(section, origin, data)| F::BodySection {
                section,
                origin,
                data
            }
        ),
        (
            vec(1u32.., 0..3),
            of(any::<u32>()),
            of(vec(any::<u8>(), 0..30))
        )
            .prop_map(|(part, origin, data)| F::Binary { part, origin, data }),
        (vec(1u32.., 0..3), 0..=MAX_I64).prop_map(|(part, size)| F::BinarySize { part, size }),
        of(vec(any::<u8>(), 0..30)).prop_map(F::Rfc822),
        of(vec(any::<u8>(), 0..30)).prop_map(F::Rfc822Header),
        of(vec(any::<u8>(), 0..30)).prop_map(F::Rfc822Text),
        (0..=MAX_I64).prop_map(F::ModSeq),
        object_id().prop_map(F::EmailId),
        of(object_id()).prop_map(F::ThreadId),
        of(date_time()).prop_map(F::SaveDate),
        (0..=MAX_I64).prop_map(F::XGmMsgId),
        (0..=MAX_I64).prop_map(F::XGmThrId),
        vec(label(), 0..3).prop_map(F::XGmLabels),
    ]
}

fn thread_tree() -> impl Strategy<Value = ThreadTree> {
    vec(1u32.., 1..3)
        .prop_map(|members| ThreadTree {
            members,
            children: vec![],
        })
        .prop_recursive(3, 12, 3, |inner| {
            (vec(1u32.., 0..3), vec(inner, 2..4))
                .prop_map(|(members, children)| ThreadTree { members, children })
        })
}

fn delimiter() -> impl Strategy<Value = Option<char>> {
    of(prop_oneof![Just('/'), Just('.'), Just('"'), Just('\\')])
}

fn list_item() -> impl Strategy<Value = ListItem> {
    (
        vec(
            prop_oneof![
                Just("\\HasNoChildren"),
                Just("\\Noselect"),
                Just("\\Sent"),
                Just("\\Subscribed")
            ],
            0..3,
        ),
        delimiter(),
        mailbox(),
        vec(prop_oneof![Just("SUBSCRIBED".to_string()), atom()], 0..2),
        of(mailbox()),
    )
        .prop_map(
            |(attributes, delimiter, mailbox, child_info, old_name)| ListItem {
                attributes: attributes.into_iter().map(String::from).collect(),
                delimiter,
                mailbox,
                child_info,
                old_name,
            },
        )
}

fn status_value() -> impl Strategy<Value = StatusValue> {
    use StatusValue as V;
    prop_oneof![
        any::<u32>().prop_map(V::Messages),
        any::<u32>().prop_map(V::UidNext),
        any::<u32>().prop_map(V::UidValidity),
        any::<u32>().prop_map(V::Unseen),
        any::<u32>().prop_map(V::Deleted),
        (0..=MAX_I64).prop_map(V::Size),
        any::<u32>().prop_map(V::Recent),
        (0..=MAX_I64).prop_map(V::HighestModSeq),
        of(0..=MAX_I64).prop_map(V::AppendLimit),
        object_id().prop_map(V::MailboxId),
    ]
}

fn namespaces() -> impl Strategy<Value = Vec<NamespaceDesc>> {
    vec(
        (mailbox(), delimiter())
            .prop_map(|(prefix, delimiter)| NamespaceDesc { prefix, delimiter }),
        0..3,
    )
}

fn data() -> impl Strategy<Value = Data> {
    use Data as D;
    prop_oneof![
        vec(atom(), 0..4).prop_map(D::Capability),
        list_item().prop_map(D::List),
        list_item().prop_map(D::Lsub),
        (mailbox(), vec(status_value(), 0..4))
            .prop_map(|(mailbox, items)| D::Status { mailbox, items }),
        keywords().prop_map(D::Flags),
        any::<u32>().prop_map(D::Exists),
        any::<u32>().prop_map(D::Recent),
        any::<u32>().prop_map(D::Expunge),
        (any::<bool>(), sequence_set()).prop_map(|(earlier, uids)| D::Vanished { earlier, uids }),
        (any::<u32>(), vec(fetch_item(), 1..4)).prop_map(|(seq, items)| D::Fetch { seq, items }),
        (any::<u32>(), vec(fetch_item(), 1..4)).prop_map(|(uid, items)| D::UidFetch { uid, items }),
        (vec(1u32.., 0..5), of(0..=MAX_I64)).prop_map(|(ids, mod_seq)| D::Search { ids, mod_seq }),
        (vec(1u32.., 0..5), of(0..=MAX_I64)).prop_map(|(ids, mod_seq)| D::Sort { ids, mod_seq }),
        (
            of(tag()),
            any::<bool>(),
            (of(1u32..), of(1u32..), of(sequence_set()), of(any::<u32>())),
            of((partial_range(), of(sequence_set()))),
            of(0..=MAX_I64),
            vec(
                (any::<bool>(), any::<u32>(), sequence_set())
                    .prop_map(|(add, position, set)| { ContextUpdate { add, position, set } }),
                0..3
            )
        )
            .prop_map(
                |(tag, uid, (min, max, all, count), partial, mod_seq, updates)| D::ESearch(
                    ESearch {
                        tag,
                        uid,
                        min,
                        max,
                        all,
                        count,
                        partial,
                        mod_seq,
                        updates,
                    }
                )
            ),
        vec(thread_tree(), 0..3).prop_map(D::Thread),
        (namespaces(), namespaces(), namespaces()).prop_map(|(personal, other, shared)| {
            D::Namespace {
                personal,
                other,
                shared,
            }
        }),
        of(vec((text(), of(text())), 0..3)).prop_map(D::Id),
        vec(atom(), 0..3).prop_map(D::Enabled),
        (
            text(),
            vec(
                (atom(), 0..=MAX_I64, 0..=MAX_I64).prop_map(|(name, usage, limit)| QuotaResource {
                    name,
                    usage,
                    limit
                }),
                0..3
            )
        )
            .prop_map(|(root, resources)| D::Quota { root, resources }),
        (mailbox(), vec(text(), 0..3)).prop_map(|(mailbox, roots)| D::QuotaRoot { mailbox, roots }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        status().prop_map(Response::Status),
        data().prop_map(Response::Data),
        "Ready [a-z ]{0,10}".prop_map(|t| Response::Continue(Continue::Text(t))),
        vec(any::<u8>(), 0..30).prop_map(|c| Response::Continue(Continue::Challenge(c))),
    ]
}

fn opts() -> impl Strategy<Value = CodecOptions> {
    any::<bool>().prop_map(|utf8| CodecOptions { utf8 })
}

/// RFC 5092 IMAP URLs naming a message, with the RFC 4467 URLAUTH parts.
fn imap_url() -> impl Strategy<Value = ImapUrl> {
    let access = prop_oneof![
        any::<String>().prop_map(UrlAccess::Submit),
        any::<String>().prop_map(UrlAccess::User),
        Just(UrlAccess::AuthUser),
        Just(UrlAccess::Anonymous),
    ];
    let auth = (
        of("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{8,12}(Z|[+-][0-9]{2}:[0-9]{2})"),
        access,
        of(("[A-Z0-9.-]{1,8}", "[0-9a-f]{32,64}")),
    )
        .prop_map(|(expire, access, v)| UrlAuth {
            expire,
            access,
            verifier: v.map(|(mechanism, token)| UrlVerifier { mechanism, token }),
        });
    let server = (of(any::<String>()), "[a-z0-9.-]{1,10}", of(any::<u16>())).prop_map(
        |(user, host, port)| UrlServer {
            user: user.filter(|u| !u.is_empty()),
            host,
            port,
        },
    );
    (
        of((
            of(server),
            any::<String>().prop_filter("a name", |m| !m.is_empty()),
            of(1..=u32::MAX),
        )),
        1..=u32::MAX,
        of(section()),
        of((any::<u32>(), of(1..=u32::MAX))),
        of(auth),
    )
        .prop_map(|(place, uid, section, partial, urlauth)| {
            let (server, mailbox, uid_validity) = match place {
                Some((server, mailbox, v)) => (server, Some(mailbox), v),
                None => (None, None, None),
            };
            ImapUrl {
                server,
                mailbox,
                uid_validity,
                uid,
                // `;SECTION=` names a part: the whole message has none.
                section: section.filter(|s| !(s.part.is_empty() && s.text.is_none())),
                partial: partial.map(|(offset, length)| UrlPartial { offset, length }),
                urlauth,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// An IMAP URL is written in a form that reads back the same
    /// (mailbox names, users and sections %-encoded, RFC 5092 §8).
    #[test]
    fn imap_urls_display_and_parse(url in imap_url()) {
        let text = url.to_string();
        prop_assert_eq!(ImapUrl::parse(&text), Ok(url), "{}", text);
    }

    #[test]
    fn commands_round_trip(tag in tag(), body in command_body(), opts in opts(), sync in any::<bool>()) {
        let cmd = Command { tag, body };
        let lit = if sync { LiteralSyntax::Sync } else { LiteralSyntax::NonSync };
        let bytes = cmd.encode(opts, lit);
        let parsed = parse_command(&bytes, opts);
        prop_assert_eq!(parsed, Ok(cmd), "{}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn framer_returns_encoded_commands_whole(
        cmds in vec((tag(), command_body()), 1..4),
        cut in vec(1usize..50, 0..20),
    ) {
        let opts = CodecOptions::default();
        let encoded: Vec<Vec<u8>> = cmds
            .into_iter()
            .map(|(tag, body)| Command { tag, body }.encode(opts, LiteralSyntax::NonSync))
            .collect();
        let stream: Vec<u8> = encoded.concat();
        let mut framer = Framer::new(FramerLimits {
            max_line: 1 << 20,
            max_literal: 1 << 20,
            max_append_literal: 1 << 20,
            max_literals: 1000,
            max_command_literals: 1 << 22,
            ..FramerLimits::default()
        });
        let mut got = Vec::new();
        let mut rest = stream.as_slice();
        let mut cuts = cut.into_iter();
        while !rest.is_empty() {
            let n = cuts.next().unwrap_or(rest.len()).min(rest.len());
            framer.push(&rest[..n]);
            rest = &rest[n..];
            loop {
                match framer.next_frame() {
                    Frame::Complete(c) => got.push(c),
                    Frame::Incomplete => break,
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
        }
        prop_assert_eq!(got, encoded);
        prop_assert_eq!(framer.buffered_len(), 0);
    }

    #[test]
    fn responses_round_trip(r in response(), opts in opts()) {
        let bytes = r.to_bytes(opts);
        let parsed = parse_response(&bytes, opts);
        prop_assert_eq!(parsed, Ok(r), "{}", String::from_utf8_lossy(&bytes));
    }

    /// RFC 5092 IMAP URLs put together from their pieces (and noise):
    /// one that parses is written back in a form that parses the same.
    #[test]
    fn imap_urls_round_trip(
        pieces in vec(prop_oneof![
            Just("imap://".to_string()),
            Just("/".to_string()),
            Just(";UID=".to_string()),
            Just(";UIDVALIDITY=".to_string()),
            Just("/;SECTION=".to_string()),
            Just("/;PARTIAL=".to_string()),
            Just(";EXPIRE=2026-12-31T23:59:59Z".to_string()),
            Just(";URLAUTH=".to_string()),
            Just("authuser".to_string()),
            Just("user+a%40b".to_string()),
            Just(":INTERNAL:0123456789abcdef0123456789abcdef".to_string()),
            Just("HEADER.FIELDS%20(FROM)".to_string()),
            Just("1.MIME".to_string()),
            "[0-9]{1,3}".prop_map(|s| s),
            "[a-zA-Z%@:.\\[\\]]{1,6}".prop_map(|s| s),
        ], 1..12)
    ) {
        tidings_imap_proto::fuzz::url_round_trip(&pieces.concat());
    }

    #[test]
    fn modified_utf7_round_trips(s in any::<String>()) {
        let enc = utf7::encode(&s);
        prop_assert!(enc.bytes().all(|b| (0x20..0x7f).contains(&b)));
        prop_assert_eq!(utf7::decode(enc.as_bytes()), Ok(s));
    }

    #[test]
    fn modified_utf7_decode_is_canonical(b in vec(prop_oneof![Just(b'&'), Just(b'-'), Just(b'A'), Just(b','), 0x20u8..0x7f], 0..16)) {
        if let Ok(s) = utf7::decode(&b) {
            prop_assert_eq!(utf7::encode(&s).into_bytes(), b);
        }
    }

    #[test]
    fn parsers_never_panic(b in vec(any::<u8>(), 0..200), utf8 in any::<bool>()) {
        let opts = CodecOptions { utf8 };
        let _ = parse_command(&b, opts);
        let _ = parse_response(&b, opts);
        let mut f = Framer::new(FramerLimits::default());
        f.push(&b);
        for _ in 0..10 {
            if f.next_frame() == Frame::Incomplete { break; }
        }
    }

    /// Valid commands and responses with a few bytes changed, inserted or
    /// removed: parsers and framer must refuse them cleanly, never panic.
    #[test]
    fn mutated_input_never_panics(
        tag in tag(),
        body in command_body(),
        r in response(),
        edits in vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..6),
        utf8 in any::<bool>(),
    ) {
        let opts = CodecOptions { utf8 };
        for mut bytes in [Command { tag: tag.clone(), body: body.clone() }.encode(opts, LiteralSyntax::NonSync), r.to_bytes(opts)] {
            for (at, op, b) in &edits {
                let i = at.index(bytes.len() + 1);
                match op {
                    0 if i < bytes.len() => bytes[i] = *b,
                    1 => bytes.insert(i, *b),
                    _ if i < bytes.len() => { bytes.remove(i); }
                    _ => {}
                }
            }
            let _ = parse_command(&bytes, opts);
            let _ = parse_response(&bytes, opts);
            let mut f = Framer::new(FramerLimits::default());
            f.push(&bytes);
            for _ in 0..20 {
                match f.next_frame() {
                    Frame::Complete(c) => { let _ = parse_command(&c, opts); }
                    Frame::Incomplete | Frame::Fatal { .. } => break,
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn sequence_set_ranges_agree_with_contains(set in sequence_set(), largest in 1u32..50, n in 1u32..60) {
        let saved = [(3u32, 5u32)];
        let in_ranges = set.ranges(largest, &saved).iter().any(|&(a, b)| (a..=b).contains(&n));
        prop_assert_eq!(in_ranges, set.contains(n, largest, &saved));
    }

    #[test]
    fn compact_sets_hold_exactly_their_numbers(mut v in vec(1u32..100, 1..30)) {
        let set = SequenceSet::compact(v.iter().copied()).unwrap();
        v.sort_unstable();
        v.dedup();
        let expanded: Vec<u32> = set.ranges(0, &[]).iter().flat_map(|&(a, b)| a..=b).collect();
        prop_assert_eq!(expanded, v);
    }
}
