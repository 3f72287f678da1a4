//! The command encoder: what a client (the load generator, tests) sends.
//! `parse_command(&cmd.encode(..))` gives back `cmd`.

use base64::Engine as _;

use crate::command::*;
use crate::encode::{LiteralSyntax, Writer};
use crate::parse_command::CodecOptions;
use crate::types::SeqNumber;

impl Command {
    /// The command's bytes, ending with CRLF. With [`LiteralSyntax::Sync`]
    /// the client must wait for `+` after each `{n}\r\n` before sending on:
    /// [`Command::encode_parts`] cuts the bytes there.
    pub fn encode(&self, opts: CodecOptions, literal: LiteralSyntax) -> Vec<u8> {
        self.encode_with_points(opts, literal).0
    }

    /// The command with synchronizing literals, cut where the client must
    /// wait for a continuation request (RFC 9051 §7.5): send the first part,
    /// then each next one after a `+`. One part when there is no literal.
    pub fn encode_parts(&self, opts: CodecOptions) -> Vec<Vec<u8>> {
        let (bytes, points) = self.encode_with_points(opts, LiteralSyntax::Sync);
        let mut parts = Vec::with_capacity(points.len() + 1);
        let mut start = 0;
        for p in points {
            parts.push(bytes[start..p].to_vec());
            start = p;
        }
        parts.push(bytes[start..].to_vec());
        parts
    }

    fn encode_with_points(
        &self,
        opts: CodecOptions,
        literal: LiteralSyntax,
    ) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut w = Writer {
            out: &mut out,
            utf8: opts.utf8,
            literal,
            sync_points: Vec::new(),
        };
        w.str(self.tag.as_str());
        w.sp();
        body(&mut w, &self.body);
        w.str("\r\n");
        let points = std::mem::take(&mut w.sync_points);
        (out, points)
    }
}

fn body(w: &mut Writer<'_>, b: &CommandBody) {
    w.str(b.name());
    match b {
        CommandBody::Capability
        | CommandBody::Noop
        | CommandBody::Logout
        | CommandBody::StartTls
        | CommandBody::Namespace
        | CommandBody::Idle
        | CommandBody::Check
        | CommandBody::Close
        | CommandBody::Unselect
        | CommandBody::Expunge => {}
        CommandBody::Authenticate {
            mechanism,
            initial_response,
        } => {
            w.sp();
            w.str(mechanism);
            if let Some(ir) = initial_response {
                w.sp();
                if ir.expose().is_empty() {
                    w.str("=");
                } else {
                    w.str(&base64::engine::general_purpose::STANDARD.encode(ir.expose()));
                }
            }
        }
        CommandBody::Login { username, password } => {
            w.sp();
            w.astring(username.as_bytes());
            w.sp();
            w.astring(password.expose().as_bytes());
        }
        CommandBody::Enable(caps) => {
            for c in caps {
                w.sp();
                w.str(c);
            }
        }
        CommandBody::Select {
            mailbox, params, ..
        } => {
            w.sp();
            w.mailbox(mailbox);
            // RFC 7162 §3.1.8, §3.2.5 select-param
            let mut p: Vec<String> = Vec::new();
            if params.condstore {
                p.push("CONDSTORE".into());
            }
            if let Some(q) = &params.qresync {
                let mut s = format!("QRESYNC ({} {}", q.uid_validity, q.mod_seq);
                if let Some(k) = &q.known_uids {
                    s.push_str(&format!(" {k}"));
                }
                if let Some((seqs, uids)) = &q.seq_match {
                    s.push_str(&format!(" ({seqs} {uids})"));
                }
                s.push(')');
                p.push(s);
            }
            if !p.is_empty() {
                w.sp();
                w.list(&p, |w, s| w.str(s));
            }
        }
        CommandBody::Create {
            mailbox,
            special_use,
        } => {
            w.sp();
            w.mailbox(mailbox);
            if !special_use.is_empty() {
                w.str(" (USE ");
                w.list(special_use, |w, s| w.str(s));
                w.str(")");
            }
        }
        CommandBody::Delete { mailbox }
        | CommandBody::Subscribe { mailbox }
        | CommandBody::Unsubscribe { mailbox }
        | CommandBody::GetQuotaRoot(mailbox)
        | CommandBody::GetAcl { mailbox }
        | CommandBody::MyRights { mailbox } => {
            w.sp();
            w.mailbox(mailbox);
        }
        CommandBody::DeleteAcl {
            mailbox,
            identifier,
        }
        | CommandBody::ListRights {
            mailbox,
            identifier,
        } => {
            w.sp();
            w.mailbox(mailbox);
            w.sp();
            w.astring(identifier.as_bytes());
        }
        CommandBody::SetAcl {
            mailbox,
            identifier,
            rights,
        } => {
            w.sp();
            w.mailbox(mailbox);
            w.sp();
            w.astring(identifier.as_bytes());
            w.sp();
            w.astring(rights.as_bytes());
        }
        CommandBody::Rename { from, to } => {
            w.sp();
            w.mailbox(from);
            w.sp();
            w.mailbox(to);
        }
        CommandBody::List(l) => {
            w.sp();
            if !l.selection.is_empty() {
                w.list(&l.selection, |w, s| {
                    w.str(match s {
                        ListSelect::Subscribed => "SUBSCRIBED",
                        ListSelect::Remote => "REMOTE",
                        ListSelect::RecursiveMatch => "RECURSIVEMATCH",
                        ListSelect::SpecialUse => "SPECIAL-USE",
                    })
                });
                w.sp();
            }
            w.mailbox(&l.reference);
            w.sp();
            if let [p] = l.patterns.as_slice() {
                w.list_mailbox(p);
            } else {
                w.list(&l.patterns, |w, p| w.list_mailbox(p));
            }
            if let Some(r) = &l.return_options {
                w.str(" RETURN ");
                w.list(r, |w, r| match r {
                    ListReturn::Subscribed => w.str("SUBSCRIBED"),
                    ListReturn::Children => w.str("CHILDREN"),
                    ListReturn::SpecialUse => w.str("SPECIAL-USE"),
                    ListReturn::MyRights => w.str("MYRIGHTS"),
                    ListReturn::Status(items) => {
                        w.str("STATUS ");
                        w.list(items, |w, i| w.str(i.as_str()));
                    }
                });
            }
        }
        CommandBody::Lsub { reference, pattern } => {
            w.sp();
            w.mailbox(reference);
            w.sp();
            w.list_mailbox(pattern);
        }
        CommandBody::Status { mailbox, items } => {
            w.sp();
            w.mailbox(mailbox);
            w.sp();
            w.list(items, |w, i| w.str(i.as_str()));
        }
        CommandBody::Append { mailbox, messages } => {
            w.sp();
            w.mailbox(mailbox);
            for m in messages {
                w.sp();
                append_message(w, m);
            }
        }
        CommandBody::Replace {
            number,
            mailbox,
            message,
            ..
        } => {
            w.sp();
            match number {
                SeqNumber::Value(n) => w.num(n),
                SeqNumber::Largest => w.str("*"),
            }
            w.sp();
            w.mailbox(mailbox);
            w.sp();
            append_message(w, message);
        }
        CommandBody::UidExpunge(set) => {
            w.sp();
            w.num(set);
        }
        CommandBody::Search(s) => {
            if let Some(r) = &s.return_options {
                w.str(" RETURN ");
                w.list(r, |w, r| match r {
                    SearchReturn::Partial(p) => w.fmt(format_args!("PARTIAL {p}")),
                    r => w.str(search_return_name(*r)),
                });
            }
            search_program(w, s.charset.as_deref(), &s.criteria);
        }
        CommandBody::Fetch(f) => {
            w.sp();
            w.num(&f.set);
            w.sp();
            match &f.items {
                FetchItems::All => w.str("ALL"),
                FetchItems::Fast => w.str("FAST"),
                FetchItems::Full => w.str("FULL"),
                FetchItems::Attributes(a) => w.list(a, fetch_attribute),
            }
            let mut modifiers = Vec::new();
            if let Some(m) = f.changed_since {
                modifiers.push(format!("CHANGEDSINCE {m}"));
            }
            if f.vanished {
                modifiers.push("VANISHED".to_string());
            }
            if let Some(p) = f.partial {
                modifiers.push(format!("PARTIAL {p}"));
            }
            if !modifiers.is_empty() {
                w.fmt(format_args!(" ({})", modifiers.join(" ")));
            }
        }
        CommandBody::Store(s) => {
            w.sp();
            w.num(&s.set);
            w.sp();
            if let Some(m) = s.unchanged_since {
                w.fmt(format_args!("(UNCHANGEDSINCE {m}) "));
            }
            w.str(match s.mode {
                StoreMode::Replace => "",
                StoreMode::Add => "+",
                StoreMode::Remove => "-",
            });
            match &s.what {
                StoreWhat::Flags(f) => {
                    w.str(if s.silent { "FLAGS.SILENT " } else { "FLAGS " });
                    w.list(f, |w, f| w.str(f.as_str()));
                }
                StoreWhat::GmLabels(l) => {
                    w.str(if s.silent {
                        "X-GM-LABELS.SILENT "
                    } else {
                        "X-GM-LABELS "
                    });
                    w.list(l, |w, l| label(w, l));
                }
            }
        }
        CommandBody::Copy { set, mailbox, .. } | CommandBody::Move { set, mailbox, .. } => {
            w.sp();
            w.num(set);
            w.sp();
            w.mailbox(mailbox);
        }
        CommandBody::Id(params) => {
            w.sp();
            match params {
                None => w.str("NIL"),
                Some(p) => w.list(p, |w, (k, v)| {
                    w.string(k.as_bytes());
                    w.sp();
                    w.nstring(v.as_deref().map(str::as_bytes));
                }),
            }
        }
        CommandBody::Sort(s) => {
            if let Some(r) = &s.return_options {
                w.str(" RETURN ");
                w.list(r, |w, r| match r {
                    SearchReturn::Partial(p) => w.fmt(format_args!("PARTIAL {p}")),
                    r => w.str(search_return_name(*r)),
                });
            }
            w.sp();
            w.list(&s.criteria, |w, c| {
                if c.reverse {
                    w.str("REVERSE ");
                }
                w.str(c.key.as_str());
            });
            w.sp();
            w.str(&s.charset);
            for k in &s.search {
                w.sp();
                search_key(w, k);
            }
        }
        CommandBody::Thread(t) => {
            w.sp();
            w.str(match &t.algorithm {
                ThreadAlgorithm::OrderedSubject => "ORDEREDSUBJECT",
                ThreadAlgorithm::References => "REFERENCES",
                ThreadAlgorithm::Other(o) => o,
            });
            w.sp();
            w.str(&t.charset);
            for k in &t.search {
                w.sp();
                search_key(w, k);
            }
        }
        CommandBody::GetQuota(root) => {
            w.sp();
            w.astring(root.as_bytes());
        }
        CommandBody::SetQuota { root, limits } => {
            w.sp();
            w.astring(root.as_bytes());
            w.sp();
            w.list(limits, |w, (r, n)| w.fmt(format_args!("{r} {n}")));
        }
        CommandBody::GetMetadata {
            mailbox,
            entries,
            max_size,
            depth,
        } => {
            let mut options = Vec::new();
            if let Some(n) = max_size {
                options.push(format!("MAXSIZE {n}"));
            }
            match depth {
                crate::MetadataDepth::Zero => {}
                crate::MetadataDepth::One => options.push("DEPTH 1".into()),
                crate::MetadataDepth::Infinity => options.push("DEPTH infinity".into()),
            }
            if !options.is_empty() {
                w.fmt(format_args!(" ({})", options.join(" ")));
            }
            w.sp();
            w.mailbox(mailbox);
            w.sp();
            w.list(entries, |w, e| w.astring(e.as_bytes()));
        }
        CommandBody::SetMetadata { mailbox, entries } => {
            w.sp();
            w.mailbox(mailbox);
            w.sp();
            w.list(entries, |w, (name, value)| {
                w.astring(name.as_bytes());
                w.sp();
                match value {
                    Some(v) if v.contains(&0) => w.literal8(v),
                    Some(v) => w.string(v),
                    None => w.str("NIL"),
                }
            });
        }
        CommandBody::Compress(m) => {
            w.sp();
            w.str(m);
        }
        CommandBody::ResetKey {
            mailbox,
            mechanisms,
        } => {
            if let Some(m) = mailbox {
                w.sp();
                w.mailbox(m);
                for mech in mechanisms {
                    w.sp();
                    w.str(mech);
                }
            }
        }
        CommandBody::GenUrlAuth(urls) => {
            for (url, mech) in urls {
                w.sp();
                w.astring(url.as_bytes());
                w.sp();
                w.str(mech);
            }
        }
        CommandBody::UrlFetch(urls) => {
            for url in urls {
                w.sp();
                w.astring(url.as_bytes());
            }
        }
        CommandBody::CancelUpdate(tags) => {
            for t in tags {
                w.sp();
                w.quoted(t.as_bytes());
            }
        }
        CommandBody::Notify(None) => w.str(" NONE"),
        CommandBody::Notify(Some(set)) => {
            w.str(" SET");
            if set.status {
                w.str(" STATUS");
            }
            for g in &set.groups {
                w.str(" (");
                notify_filter(w, &g.filter);
                w.sp();
                if g.events.is_empty() {
                    w.str("NONE");
                } else {
                    w.list(&g.events, |w, e| {
                        w.str(e.name());
                        if let NotifyEvent::MessageNew(attrs) = e
                            && !attrs.is_empty()
                        {
                            w.sp();
                            w.list(attrs, fetch_attribute);
                        }
                    });
                }
                w.str(")");
            }
        }
    }
}

fn notify_filter(w: &mut Writer<'_>, f: &NotifyFilter) {
    let (name, names) = match f {
        NotifyFilter::Selected => ("selected", None),
        NotifyFilter::SelectedDelayed => ("selected-delayed", None),
        NotifyFilter::Inboxes => ("inboxes", None),
        NotifyFilter::Personal => ("personal", None),
        NotifyFilter::Subscribed => ("subscribed", None),
        NotifyFilter::Subtree(n) => ("subtree", Some(n)),
        NotifyFilter::Mailboxes(n) => ("mailboxes", Some(n)),
    };
    w.str(name);
    if let Some(names) = names {
        w.sp();
        w.list(names, |w, n| w.mailbox(n));
    }
}

pub(crate) fn search_return_name(r: SearchReturn) -> &'static str {
    match r {
        SearchReturn::Min => "MIN",
        SearchReturn::Max => "MAX",
        SearchReturn::All => "ALL",
        SearchReturn::Count => "COUNT",
        SearchReturn::Save => "SAVE",
        SearchReturn::Partial(_) => "PARTIAL",
        SearchReturn::Context => "CONTEXT",
        SearchReturn::Update => "UPDATE",
    }
}

/// A Gmail label: a system label (`\Inbox`) as it is, anything else like a
/// mailbox name.
pub(crate) fn label(w: &mut Writer<'_>, l: &str) {
    let system = l
        .strip_prefix('\\')
        .is_some_and(|a| !a.is_empty() && a.bytes().all(crate::types::is_atom_char));
    if system {
        w.str(l);
    } else {
        w.mailbox(l);
    }
}

fn search_program(w: &mut Writer<'_>, charset: Option<&str>, keys: &[SearchKey]) {
    if let Some(cs) = charset {
        w.str(" CHARSET ");
        w.str(cs);
    }
    for k in keys {
        w.sp();
        search_key(w, k);
    }
}

fn search_key(w: &mut Writer<'_>, k: &SearchKey) {
    use SearchKey as K;
    let text = |w: &mut Writer<'_>, name: &str, s: &str| {
        w.str(name);
        w.sp();
        w.astring(s.as_bytes());
    };
    let date = |w: &mut Writer<'_>, name: &str, d: &crate::Date| w.fmt(format_args!("{name} {d}"));
    match k {
        K::All => w.str("ALL"),
        K::Answered => w.str("ANSWERED"),
        K::Bcc(s) => text(w, "BCC", s),
        K::Before(d) => date(w, "BEFORE", d),
        K::Body(s) => text(w, "BODY", s),
        K::Cc(s) => text(w, "CC", s),
        K::Deleted => w.str("DELETED"),
        K::Draft => w.str("DRAFT"),
        K::Flagged => w.str("FLAGGED"),
        K::From(s) => text(w, "FROM", s),
        K::Header(h, s) => {
            text(w, "HEADER", h);
            w.sp();
            w.astring(s.as_bytes());
        }
        K::Keyword(f) => w.fmt(format_args!("KEYWORD {f}")),
        K::Larger(n) => w.fmt(format_args!("LARGER {n}")),
        K::New => w.str("NEW"),
        K::Not(k) => {
            w.str("NOT ");
            search_key(w, k);
        }
        K::Old => w.str("OLD"),
        K::On(d) => date(w, "ON", d),
        K::Or(a, b) => {
            w.str("OR ");
            search_key(w, a);
            w.sp();
            search_key(w, b);
        }
        K::Recent => w.str("RECENT"),
        K::Seen => w.str("SEEN"),
        K::SentBefore(d) => date(w, "SENTBEFORE", d),
        K::SentOn(d) => date(w, "SENTON", d),
        K::SentSince(d) => date(w, "SENTSINCE", d),
        K::Since(d) => date(w, "SINCE", d),
        K::Smaller(n) => w.fmt(format_args!("SMALLER {n}")),
        K::Subject(s) => text(w, "SUBJECT", s),
        K::Text(s) => text(w, "TEXT", s),
        K::To(s) => text(w, "TO", s),
        K::Uid(set) => w.fmt(format_args!("UID {set}")),
        K::Unanswered => w.str("UNANSWERED"),
        K::Undeleted => w.str("UNDELETED"),
        K::Undraft => w.str("UNDRAFT"),
        K::Unflagged => w.str("UNFLAGGED"),
        K::Unkeyword(f) => w.fmt(format_args!("UNKEYWORD {f}")),
        K::Unseen => w.str("UNSEEN"),
        K::SequenceSet(set) => w.num(set),
        K::And(keys) => w.list(keys, search_key),
        K::ModSeq { entry, mod_seq } => {
            w.str("MODSEQ ");
            if let Some((name, t)) = entry {
                w.quoted(name.as_bytes());
                w.str(match t {
                    EntryType::Private => " priv ",
                    EntryType::Shared => " shared ",
                    EntryType::All => " all ",
                });
            }
            w.num(mod_seq);
        }
        K::Older(n) => w.fmt(format_args!("OLDER {n}")),
        K::Younger(n) => w.fmt(format_args!("YOUNGER {n}")),
        K::SavedBefore(d) => date(w, "SAVEDBEFORE", d),
        K::SavedOn(d) => date(w, "SAVEDON", d),
        K::SavedSince(d) => date(w, "SAVEDSINCE", d),
        K::SaveDateSupported => w.str("SAVEDATESUPPORTED"),
        K::EmailId(id) => w.fmt(format_args!("EMAILID {id}")),
        K::ThreadId(id) => w.fmt(format_args!("THREADID {id}")),
        K::XGmRaw(s) => text(w, "X-GM-RAW", s),
        K::XGmMsgId(n) => w.fmt(format_args!("X-GM-MSGID {n}")),
        K::XGmThrId(n) => w.fmt(format_args!("X-GM-THRID {n}")),
        K::XGmLabels(l) => {
            w.str("X-GM-LABELS ");
            label(w, l);
        }
    }
}

fn partial(w: &mut Writer<'_>, p: &Option<crate::Partial>) {
    if let Some(p) = p {
        w.fmt(format_args!("<{}.{}>", p.origin, p.count));
    }
}

pub(crate) fn part(p: &[u32]) -> String {
    p.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

fn fetch_attribute(w: &mut Writer<'_>, a: &FetchAttribute) {
    use FetchAttribute as A;
    match a {
        A::Envelope => w.str("ENVELOPE"),
        A::Flags => w.str("FLAGS"),
        A::InternalDate => w.str("INTERNALDATE"),
        A::Rfc822Size => w.str("RFC822.SIZE"),
        A::Rfc822 => w.str("RFC822"),
        A::Rfc822Header => w.str("RFC822.HEADER"),
        A::Rfc822Text => w.str("RFC822.TEXT"),
        A::Body => w.str("BODY"),
        A::BodyStructure => w.str("BODYSTRUCTURE"),
        A::Uid => w.str("UID"),
        A::BodySection {
            peek,
            section,
            partial: p,
        } => {
            w.str(if *peek { "BODY.PEEK[" } else { "BODY[" });
            w.section(section);
            w.str("]");
            partial(w, p);
        }
        A::Binary {
            peek,
            part: pt,
            partial: p,
        } => {
            w.str(if *peek { "BINARY.PEEK[" } else { "BINARY[" });
            w.str(&part(pt));
            w.str("]");
            partial(w, p);
        }
        A::BinarySize { part: pt } => w.fmt(format_args!("BINARY.SIZE[{}]", part(pt))),
        A::ModSeq => w.str("MODSEQ"),
        A::EmailId => w.str("EMAILID"),
        A::ThreadId => w.str("THREADID"),
        A::SaveDate => w.str("SAVEDATE"),
        A::Preview { lazy: false } => w.str("PREVIEW"),
        A::Preview { lazy: true } => w.str("PREVIEW (LAZY)"),
        A::XGmMsgId => w.str("X-GM-MSGID"),
        A::XGmThrId => w.str("X-GM-THRID"),
        A::XGmLabels => w.str("X-GM-LABELS"),
    }
}

/// RFC 4466 §2.3 append-message (after its SP).
fn append_message(w: &mut Writer<'_>, m: &AppendMessage) {
    if !m.flags.is_empty() {
        w.list(&m.flags, |w, f| w.str(f.as_str()));
        w.sp();
    }
    if let Some(d) = &m.date {
        w.fmt(format_args!("\"{d}\" "));
    }
    match &m.kind {
        AppendDataKind::Literal => w.literal(&m.data),
        AppendDataKind::Literal8 => w.literal8(&m.data),
        AppendDataKind::Utf8 => {
            w.str("UTF8 (");
            w.literal8(&m.data);
            w.str(")");
        }
        AppendDataKind::Catenate(parts) => {
            w.str("CATENATE ");
            w.list(parts, |w, p| match p {
                CatPart::Text { data, kind } => match kind {
                    TextKind::Literal => {
                        w.str("TEXT ");
                        w.literal(data);
                    }
                    TextKind::Literal8 => {
                        w.str("TEXT ");
                        w.literal8(data);
                    }
                    TextKind::Utf8 => {
                        w.str("UTF8 (");
                        w.literal8(data);
                        w.str(")");
                    }
                },
                CatPart::Url(u) => {
                    w.str("URL ");
                    w.astring(u.as_bytes());
                }
            });
        }
    }
}
