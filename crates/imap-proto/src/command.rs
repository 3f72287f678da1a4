//! Commands a client sends, as typed values (RFC 9051 §6 and extensions).
//!
//! Strings that name mailboxes are already decoded (modified UTF-7 or UTF-8,
//! see [`crate::utf7`]) into `String`s that may still be refused by
//! [`tidings_types::MailboxName::new`]; see [`crate::mailbox_name`].

use tidings_types::{Keyword, Secret};

use crate::types::{Date, DateTime, Partial, Section, SeqNumber, SequenceSet, Tag};

/// A tagged command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub tag: Tag,
    pub body: CommandBody,
}

/// Every command this crate understands. `uid: true` marks the `UID`
/// variant (RFC 9051 §6.4.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandBody {
    // RFC 9051 §6.1: any state.
    Capability,
    Noop,
    Logout,
    // RFC 9051 §6.2: not authenticated.
    StartTls,
    /// RFC 9051 §6.2.2; RFC 4959 (SASL-IR) initial response, already
    /// base64-decoded (`=` is an empty response).
    Authenticate {
        /// Upper-cased mechanism name (`PLAIN`).
        mechanism: String,
        initial_response: Option<Secret<Vec<u8>>>,
    },
    /// RFC 9051 §6.2.3.
    Login {
        username: String,
        password: Secret<String>,
    },
    // RFC 9051 §6.3: authenticated.
    /// RFC 5161 / RFC 9051 §6.3.1. Capability names upper-cased.
    Enable(Vec<String>),
    /// SELECT (RFC 9051 §6.3.2) or EXAMINE (§6.3.3) when `read_only`.
    Select {
        mailbox: String,
        read_only: bool,
        params: SelectParams,
    },
    /// RFC 9051 §6.3.4; `special_use` from RFC 6154 §3 (`USE (\Sent)`), as
    /// written (`\Sent`).
    Create {
        mailbox: String,
        special_use: Vec<String>,
    },
    Delete {
        mailbox: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Subscribe {
        mailbox: String,
    },
    Unsubscribe {
        mailbox: String,
    },
    /// RFC 9051 §6.3.9, RFC 5258 (LIST-EXTENDED), RFC 5819 (LIST-STATUS),
    /// RFC 6154 (SPECIAL-USE). The basic form has no selection and no return
    /// options and one pattern.
    List(List),
    /// RFC 3501 §6.3.9.
    Lsub {
        reference: String,
        pattern: String,
    },
    /// RFC 2342 / RFC 9051 §6.3.10.
    Namespace,
    /// RFC 9051 §6.3.11.
    Status {
        mailbox: String,
        items: Vec<StatusItem>,
    },
    /// RFC 9051 §6.3.12; RFC 3502 MULTIAPPEND gives several messages.
    Append {
        mailbox: String,
        messages: Vec<AppendMessage>,
    },
    /// RFC 8508 §3.1/§3.2: `[UID] REPLACE n mailbox append-message`: the
    /// message becomes `mailbox`'s newest and the selected mailbox's
    /// message `number` (a UID with `uid`) is expunged.
    Replace {
        uid: bool,
        number: SeqNumber,
        mailbox: String,
        message: AppendMessage,
    },
    /// RFC 2177 / RFC 9051 §6.3.13. The client ends it with `DONE`
    /// ([`crate::parse_idle_done`]).
    Idle,
    // RFC 9051 §6.4: selected.
    Check,
    Close,
    /// RFC 3691 / RFC 9051 §6.4.2.
    Unselect,
    Expunge,
    /// `UID EXPUNGE` (RFC 4315 §2.1, RFC 9051 §6.4.9).
    UidExpunge(SequenceSet),
    /// RFC 9051 §6.4.4, RFC 4731 (ESEARCH), RFC 5182 (SEARCHRES).
    Search(Search),
    /// RFC 9051 §6.4.5, RFC 7162 §3.1.4 (CHANGEDSINCE), §3.2.6 (VANISHED).
    Fetch(Fetch),
    /// RFC 9051 §6.4.6, RFC 7162 §3.1.3 (UNCHANGEDSINCE), Gmail X-GM-LABELS.
    Store(Store),
    /// RFC 9051 §6.4.7.
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
    },
    /// RFC 6851 / RFC 9051 §6.4.8.
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
    },
    /// RFC 2971. `None` is `ID NIL`.
    Id(Option<Vec<(String, Option<String>)>>),
    /// RFC 5256 §3 SORT, RFC 5957 (SORT=DISPLAY).
    Sort(Sort),
    /// RFC 5256 §3 THREAD.
    Thread(Thread),
    /// RFC 9208 §4.1 (quota root name).
    GetQuota(String),
    /// RFC 9208 §4.2.
    GetQuotaRoot(String),
    /// RFC 9208 §4.3: resources upper-cased, with their limits.
    SetQuota {
        root: String,
        limits: Vec<(String, u64)>,
    },
    /// RFC 4978 §3. Mechanism upper-cased (`DEFLATE`).
    Compress(String),
    /// RFC 5464 §4.2 GETMETADATA. `mailbox` is empty for the server's
    /// entries; entry names are as sent (their case is kept).
    GetMetadata {
        mailbox: String,
        entries: Vec<String>,
        max_size: Option<u64>,
        depth: MetadataDepth,
    },
    /// RFC 5464 §4.3 SETMETADATA: each entry with its new value, `None`
    /// (NIL) to remove it.
    SetMetadata {
        mailbox: String,
        entries: Vec<(String, Option<Vec<u8>>)>,
    },
    /// RFC 4314 §3.1 SETACL: the rights as sent, with their `+`/`-`
    /// prefix if any.
    SetAcl {
        mailbox: String,
        identifier: String,
        rights: String,
    },
    /// RFC 4314 §3.2 DELETEACL.
    DeleteAcl {
        mailbox: String,
        identifier: String,
    },
    /// RFC 4314 §3.3 GETACL.
    GetAcl {
        mailbox: String,
    },
    /// RFC 4314 §3.4 LISTRIGHTS.
    ListRights {
        mailbox: String,
        identifier: String,
    },
    /// RFC 4314 §3.5 MYRIGHTS.
    MyRights {
        mailbox: String,
    },
    /// RFC 4467 §7.1 RESETKEY `[mailbox *mechanism]`: mechanisms
    /// upper-cased.
    ResetKey {
        mailbox: Option<String>,
        mechanisms: Vec<String>,
    },
    /// RFC 4467 §7.2 GENURLAUTH: each rump URL with its mechanism
    /// (upper-cased).
    GenUrlAuth(Vec<(String, String)>),
    /// RFC 4467 §7.3 URLFETCH: authorized URLs.
    UrlFetch(Vec<String>),
    /// RFC 5465 §3: `NOTIFY SET ...`, or `NOTIFY NONE` (`None`).
    Notify(Option<NotifySet>),
    /// RFC 5267 §4.4 `CANCELUPDATE "tag" ...`: the tags of the searches
    /// whose updates end.
    CancelUpdate(Vec<String>),
}

/// `NOTIFY SET [STATUS] event-group...` (RFC 5465 §3.1, §8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifySet {
    /// The `STATUS` indicator: STATUS for every mailbox the groups name,
    /// before the tagged OK.
    pub status: bool,
    pub groups: Vec<NotifyGroup>,
}

/// One event group: the mailboxes it applies to and their events; no
/// events is `NONE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyGroup {
    pub filter: NotifyFilter,
    pub events: Vec<NotifyEvent>,
}

/// `filter-mailboxes` (RFC 5465 §6). Mailbox names are decoded as for
/// any command ([`crate::utf7`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyFilter {
    Selected,
    /// `selected-delayed`: expunges wait for a command that allows them.
    SelectedDelayed,
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

impl NotifyFilter {
    /// Whether this is `selected` or `selected-delayed`.
    pub fn is_selected(&self) -> bool {
        matches!(self, NotifyFilter::Selected | NotifyFilter::SelectedDelayed)
    }
}

/// An event (RFC 5465 §5); an unknown one is kept by name
/// (`event-ext = atom`) for the server to refuse with `BADEVENT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyEvent {
    /// With the attributes to FETCH for a new message of the selected
    /// mailbox (§5.1), possibly none.
    MessageNew(Vec<FetchAttribute>),
    MessageExpunge,
    FlagChange,
    AnnotationChange,
    MailboxName,
    SubscriptionChange,
    MailboxMetadataChange,
    ServerMetadataChange,
    Other(String),
}

impl NotifyEvent {
    /// The event's name as RFC 5465 §8 spells it.
    pub fn name(&self) -> &str {
        match self {
            NotifyEvent::MessageNew(_) => "MessageNew",
            NotifyEvent::MessageExpunge => "MessageExpunge",
            NotifyEvent::FlagChange => "FlagChange",
            NotifyEvent::AnnotationChange => "AnnotationChange",
            NotifyEvent::MailboxName => "MailboxName",
            NotifyEvent::SubscriptionChange => "SubscriptionChange",
            NotifyEvent::MailboxMetadataChange => "MailboxMetadataChange",
            NotifyEvent::ServerMetadataChange => "ServerMetadataChange",
            NotifyEvent::Other(n) => n,
        }
    }

    /// The event named `name` (any case), without MessageNew's attributes.
    pub fn named(name: &str) -> NotifyEvent {
        const KNOWN: [NotifyEvent; 8] = [
            NotifyEvent::MessageNew(Vec::new()),
            NotifyEvent::MessageExpunge,
            NotifyEvent::FlagChange,
            NotifyEvent::AnnotationChange,
            NotifyEvent::MailboxName,
            NotifyEvent::SubscriptionChange,
            NotifyEvent::MailboxMetadataChange,
            NotifyEvent::ServerMetadataChange,
        ];
        KNOWN
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(name))
            .unwrap_or_else(|| NotifyEvent::Other(name.to_string()))
    }
}

/// GETMETADATA's DEPTH option (RFC 5464 §4.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MetadataDepth {
    /// The entry only.
    #[default]
    Zero,
    /// The entry and its immediate children.
    One,
    /// The entry and every descendant.
    Infinity,
}

impl CommandBody {
    /// The command's name as the server would quote it in a response
    /// (`UID FETCH`, `EXAMINE`).
    pub fn name(&self) -> &'static str {
        match self {
            CommandBody::Capability => "CAPABILITY",
            CommandBody::Noop => "NOOP",
            CommandBody::Logout => "LOGOUT",
            CommandBody::StartTls => "STARTTLS",
            CommandBody::Authenticate { .. } => "AUTHENTICATE",
            CommandBody::Login { .. } => "LOGIN",
            CommandBody::Enable(_) => "ENABLE",
            CommandBody::Select {
                read_only: false, ..
            } => "SELECT",
            CommandBody::Select {
                read_only: true, ..
            } => "EXAMINE",
            CommandBody::Create { .. } => "CREATE",
            CommandBody::Delete { .. } => "DELETE",
            CommandBody::Rename { .. } => "RENAME",
            CommandBody::Subscribe { .. } => "SUBSCRIBE",
            CommandBody::Unsubscribe { .. } => "UNSUBSCRIBE",
            CommandBody::List(_) => "LIST",
            CommandBody::Lsub { .. } => "LSUB",
            CommandBody::Namespace => "NAMESPACE",
            CommandBody::Status { .. } => "STATUS",
            CommandBody::Append { .. } => "APPEND",
            CommandBody::Replace { uid: true, .. } => "UID REPLACE",
            CommandBody::Replace { .. } => "REPLACE",
            CommandBody::Idle => "IDLE",
            CommandBody::Check => "CHECK",
            CommandBody::Close => "CLOSE",
            CommandBody::Unselect => "UNSELECT",
            CommandBody::Expunge => "EXPUNGE",
            CommandBody::UidExpunge(_) => "UID EXPUNGE",
            CommandBody::Search(s) if s.uid => "UID SEARCH",
            CommandBody::Search(_) => "SEARCH",
            CommandBody::Fetch(f) if f.uid => "UID FETCH",
            CommandBody::Fetch(_) => "FETCH",
            CommandBody::Store(s) if s.uid => "UID STORE",
            CommandBody::Store(_) => "STORE",
            CommandBody::Copy { uid: true, .. } => "UID COPY",
            CommandBody::Copy { .. } => "COPY",
            CommandBody::Move { uid: true, .. } => "UID MOVE",
            CommandBody::Move { .. } => "MOVE",
            CommandBody::Id(_) => "ID",
            CommandBody::Sort(s) if s.uid => "UID SORT",
            CommandBody::Sort(_) => "SORT",
            CommandBody::Thread(t) if t.uid => "UID THREAD",
            CommandBody::Thread(_) => "THREAD",
            CommandBody::GetQuota(_) => "GETQUOTA",
            CommandBody::GetQuotaRoot(_) => "GETQUOTAROOT",
            CommandBody::SetQuota { .. } => "SETQUOTA",
            CommandBody::Compress(_) => "COMPRESS",
            CommandBody::GetMetadata { .. } => "GETMETADATA",
            CommandBody::SetMetadata { .. } => "SETMETADATA",
            CommandBody::Notify(_) => "NOTIFY",
            CommandBody::CancelUpdate(_) => "CANCELUPDATE",
            CommandBody::ResetKey { .. } => "RESETKEY",
            CommandBody::GenUrlAuth(_) => "GENURLAUTH",
            CommandBody::UrlFetch(_) => "URLFETCH",
            CommandBody::SetAcl { .. } => "SETACL",
            CommandBody::DeleteAcl { .. } => "DELETEACL",
            CommandBody::GetAcl { .. } => "GETACL",
            CommandBody::ListRights { .. } => "LISTRIGHTS",
            CommandBody::MyRights { .. } => "MYRIGHTS",
        }
    }
}

/// The session states in which a command may be given (RFC 9051 §3, §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidStates {
    pub not_authenticated: bool,
    pub authenticated: bool,
    pub selected: bool,
}

impl CommandBody {
    /// Where the command is allowed; elsewhere the server answers `BAD`
    /// (RFC 9051 §6: "command unknown or arguments invalid").
    pub fn valid_states(&self) -> ValidStates {
        let states = |not_authenticated, authenticated, selected| ValidStates {
            not_authenticated,
            authenticated,
            selected,
        };
        match self {
            // RFC 9051 §6.1, RFC 2971 §3.1 (ID in any state)
            CommandBody::Capability
            | CommandBody::Noop
            | CommandBody::Logout
            | CommandBody::Id(_) => states(true, true, true),
            // RFC 9051 §6.2
            CommandBody::StartTls
            | CommandBody::Authenticate { .. }
            | CommandBody::Login { .. } => states(true, false, false),
            // RFC 5161 §3.1, RFC 9051 §6.3.1: only before a mailbox is selected
            CommandBody::Enable(_) => states(false, true, false),
            // RFC 9051 §6.3 and the extensions of the same kind
            CommandBody::Select { .. }
            | CommandBody::Create { .. }
            | CommandBody::Delete { .. }
            | CommandBody::Rename { .. }
            | CommandBody::Subscribe { .. }
            | CommandBody::Unsubscribe { .. }
            | CommandBody::List(_)
            | CommandBody::Lsub { .. }
            | CommandBody::Namespace
            | CommandBody::Status { .. }
            | CommandBody::Append { .. }
            | CommandBody::Idle
            | CommandBody::GetQuota(_)
            | CommandBody::GetQuotaRoot(_)
            | CommandBody::SetQuota { .. }
            | CommandBody::Compress(_)
            | CommandBody::GetMetadata { .. }
            | CommandBody::SetMetadata { .. }
            | CommandBody::Notify(_)
            // RFC 4467 §7
            | CommandBody::ResetKey { .. }
            | CommandBody::GenUrlAuth(_)
            | CommandBody::UrlFetch(_)
            | CommandBody::SetAcl { .. }
            | CommandBody::DeleteAcl { .. }
            | CommandBody::GetAcl { .. }
            | CommandBody::ListRights { .. }
            | CommandBody::MyRights { .. } => states(false, true, true),
            // RFC 9051 §6.4
            CommandBody::Check
            | CommandBody::Close
            | CommandBody::Unselect
            | CommandBody::Expunge
            | CommandBody::UidExpunge(_)
            | CommandBody::Search(_)
            | CommandBody::Fetch(_)
            | CommandBody::Store(_)
            | CommandBody::Copy { .. }
            | CommandBody::Move { .. }
            | CommandBody::Replace { .. }
            | CommandBody::Sort(_)
            | CommandBody::Thread(_)
            | CommandBody::CancelUpdate(_) => states(false, false, true),
        }
    }
}

/// SELECT/EXAMINE parameters (RFC 7162 §3.1.8, §3.2.5).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SelectParams {
    /// `(CONDSTORE)`
    pub condstore: bool,
    /// `(QRESYNC (...))`
    pub qresync: Option<QresyncParams>,
}

/// `QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]])` (RFC 7162 §3.2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QresyncParams {
    pub uid_validity: u32,
    pub mod_seq: u64,
    pub known_uids: Option<SequenceSet>,
    /// Known sequence numbers and the UIDs they map to.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// LIST in its basic and extended forms (RFC 9051 §6.3.9, RFC 5258 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct List {
    pub selection: Vec<ListSelect>,
    pub reference: String,
    /// One or more patterns, decoded like mailbox names.
    pub patterns: Vec<String>,
    /// `RETURN (...)`; `None` when absent.
    pub return_options: Option<Vec<ListReturn>>,
}

impl List {
    /// Whether the command used LIST-EXTENDED syntax (RFC 5258 §3).
    pub fn is_extended(&self) -> bool {
        !self.selection.is_empty() || self.patterns.len() != 1 || self.return_options.is_some()
    }
}

/// LIST selection options (RFC 5258 §3.1, RFC 6154 §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListSelect {
    Subscribed,
    Remote,
    RecursiveMatch,
    SpecialUse,
}

/// LIST return options (RFC 5258 §3.2, RFC 5819, RFC 6154 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListReturn {
    Subscribed,
    Children,
    SpecialUse,
    /// RFC 8440 LIST-MYRIGHTS: a MYRIGHTS reply after each LIST reply.
    MyRights,
    Status(Vec<StatusItem>),
}

/// STATUS data items (RFC 9051 §6.3.11; RFC 3501 RECENT; RFC 7162 §3.1.2.2
/// HIGHESTMODSEQ; RFC 7889 APPENDLIMIT; RFC 8474 MAILBOXID; RFC 8438 SIZE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusItem {
    Messages,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    Size,
    Recent,
    HighestModSeq,
    AppendLimit,
    MailboxId,
}

impl StatusItem {
    pub(crate) const TABLE: [(&'static str, StatusItem); 10] = [
        ("MESSAGES", StatusItem::Messages),
        ("UIDNEXT", StatusItem::UidNext),
        ("UIDVALIDITY", StatusItem::UidValidity),
        ("UNSEEN", StatusItem::Unseen),
        ("DELETED", StatusItem::Deleted),
        ("SIZE", StatusItem::Size),
        ("RECENT", StatusItem::Recent),
        ("HIGHESTMODSEQ", StatusItem::HighestModSeq),
        ("APPENDLIMIT", StatusItem::AppendLimit),
        ("MAILBOXID", StatusItem::MailboxId),
    ];

    pub fn as_str(self) -> &'static str {
        Self::TABLE
            .iter()
            .find(|(_, i)| *i == self)
            .map_or("MESSAGES", |(n, _)| n)
    }
}

/// One message of an APPEND.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<Keyword>,
    pub date: Option<DateTime>,
    pub data: Vec<u8>,
    pub kind: AppendDataKind,
}

/// How the message bytes were sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendDataKind {
    /// `{n}`: no NUL bytes (RFC 9051 §4.3).
    Literal,
    /// `~{n}`: may hold NUL (RFC 3516 §4.4, BINARY).
    Literal8,
    /// `UTF8 (~{n})` (RFC 6855 §4, UTF8=ACCEPT).
    Utf8,
    /// `CATENATE (part ...)` (RFC 4469 §5): the message is made of these
    /// parts, in order; the message's `data` is empty.
    Catenate(Vec<CatPart>),
}

/// One part of a CATENATE (RFC 4469 §5 `cat-part`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`; with `literal8` also `TEXT ~{n}` (RFC 4469 §5 with
    /// BINARY, RFC 3516 §4.4), and `UTF8 (~{n})` (RFC 6855 §4 `cat-part
    /// =/ utf8-literal`).
    Text { data: Vec<u8>, kind: TextKind },
    /// `URL astring`: an IMAP URL (RFC 5092), as sent; the server reads
    /// it ([`crate::ImapUrl`]) and quotes it in `[BADURL url]`.
    Url(String),
}

/// How a CATENATE `TEXT` part was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextKind {
    /// `TEXT {n}`
    Literal,
    /// `TEXT ~{n}`
    Literal8,
    /// `UTF8 (~{n})`
    Utf8,
}

/// SEARCH (RFC 9051 §6.4.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    pub uid: bool,
    /// `RETURN (...)` (RFC 4731 §3.1); `Some(vec![])` is `RETURN ()`, which
    /// means `ALL`. `None`: a classic `SEARCH` response is wanted.
    pub return_options: Option<Vec<SearchReturn>>,
    /// Upper-cased charset, if given. Only `US-ASCII` and `UTF-8` are
    /// accepted by the parser (others yield [`crate::ParseErrorKind::BadCharset`]).
    pub charset: Option<String>,
    /// The criteria, all of which must match (non-empty).
    pub criteria: Vec<SearchKey>,
}

/// ESEARCH return options (RFC 4731 §3.1, RFC 5182 §2 SAVE, RFC 9394
/// PARTIAL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SearchReturn {
    Min,
    Max,
    All,
    Count,
    Save,
    /// `PARTIAL a:b` (RFC 9394 §3.1): only the results at those positions.
    Partial(PartialRange),
    /// RFC 5267 §4.2 `CONTEXT`: a hint that the result will be reused.
    Context,
    /// RFC 5267 §4.3 `UPDATE`: keep the result up to date with unsolicited
    /// `ESEARCH ... ADDTO/REMOVEFROM` until CANCELUPDATE.
    Update,
}

/// RFC 9394 §4 partial-range: positions in the list of results, from 1;
/// `from_end` (`-1:-100`) counts from the last result. Kept as the client
/// wrote it (`500:400` is `400:500`), since the reply echoes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PartialRange {
    pub from_end: bool,
    pub first: u32,
    pub second: u32,
}

impl PartialRange {
    /// The 0-based positions `[start, end)` this range picks out of `len`
    /// results (empty when it lies beyond them).
    pub fn window(&self, len: usize) -> (usize, usize) {
        // Positions are from 1 (the parser refuses 0; a 0 here counts as 1).
        let lo = usize::try_from(self.first.min(self.second).max(1)).unwrap_or(usize::MAX);
        let hi = usize::try_from(self.first.max(self.second).max(1)).unwrap_or(usize::MAX);
        if self.from_end {
            // -1 is the last result: -lo..-hi is [len - hi, len - lo + 1).
            (len.saturating_sub(hi), len.saturating_sub(lo - 1))
        } else {
            ((lo - 1).min(len), hi.min(len))
        }
    }

    /// The same range with the smaller number first (`4:2` is `2:4`,
    /// `-100:-1` is `-1:-100`), as replies give it (RFC 9394 §4: the two
    /// orders mean the same; Dovecot echoes this form).
    pub fn normalized(self) -> Self {
        PartialRange {
            first: self.first.min(self.second),
            second: self.first.max(self.second),
            ..self
        }
    }
}

impl std::fmt::Display for PartialRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = if self.from_end { "-" } else { "" };
        write!(f, "{m}{}:{m}{}", self.first, self.second)
    }
}

/// A search key (RFC 9051 §6.4.4 and extensions). Text is UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Answered,
    Bcc(String),
    Before(Date),
    Body(String),
    Cc(String),
    Deleted,
    Draft,
    Flagged,
    From(String),
    Header(String, String),
    Keyword(Keyword),
    Larger(u64),
    New,
    Not(Box<SearchKey>),
    Old,
    On(Date),
    Or(Box<SearchKey>, Box<SearchKey>),
    Recent,
    Seen,
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Since(Date),
    Smaller(u64),
    Subject(String),
    Text(String),
    To(String),
    Uid(SequenceSet),
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unkeyword(Keyword),
    Unseen,
    /// A bare sequence set (message numbers).
    SequenceSet(SequenceSet),
    /// A parenthesised list: all must match.
    And(Vec<SearchKey>),
    /// RFC 7162 §3.1.5: `MODSEQ ["/flags/\Seen" all] n`.
    ModSeq {
        entry: Option<(String, EntryType)>,
        mod_seq: u64,
    },
    /// RFC 5032 WITHIN: seconds.
    Older(u32),
    Younger(u32),
    /// RFC 8514 SAVEDATE.
    SavedBefore(Date),
    SavedOn(Date),
    SavedSince(Date),
    SaveDateSupported,
    /// RFC 8474 §5 OBJECTID.
    EmailId(String),
    ThreadId(String),
    /// Gmail X-GM-EXT-1.
    XGmRaw(String),
    XGmMsgId(u64),
    XGmThrId(u64),
    XGmLabels(String),
}

/// RFC 7162 §3.1.5 entry-type-req.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryType {
    Private,
    Shared,
    All,
}

/// FETCH (RFC 9051 §6.4.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    pub uid: bool,
    pub set: SequenceSet,
    pub items: FetchItems,
    /// RFC 7162 §3.1.4.1 `CHANGEDSINCE`.
    pub changed_since: Option<u64>,
    /// RFC 7162 §3.2.6 `VANISHED` (only with `UID FETCH` and CHANGEDSINCE).
    pub vanished: bool,
    /// RFC 9394 §3.2 `PARTIAL a:b`: only the messages at those positions
    /// of the set (after CHANGEDSINCE); the session allows it with `UID
    /// FETCH` only.
    pub partial: Option<PartialRange>,
}

/// What FETCH asks for: a macro or a list of attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchItems {
    /// `ALL` = FLAGS INTERNALDATE RFC822.SIZE ENVELOPE.
    All,
    /// `FAST` = FLAGS INTERNALDATE RFC822.SIZE.
    Fast,
    /// `FULL` = FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.
    Full,
    Attributes(Vec<FetchAttribute>),
}

impl FetchItems {
    /// The attributes, with macros expanded (RFC 9051 §6.4.5).
    pub fn expand(&self) -> Vec<FetchAttribute> {
        use FetchAttribute as A;
        match self {
            FetchItems::All => vec![A::Flags, A::InternalDate, A::Rfc822Size, A::Envelope],
            FetchItems::Fast => vec![A::Flags, A::InternalDate, A::Rfc822Size],
            FetchItems::Full => vec![
                A::Flags,
                A::InternalDate,
                A::Rfc822Size,
                A::Envelope,
                A::Body,
            ],
            FetchItems::Attributes(a) => a.clone(),
        }
    }
}

/// A FETCH data item name (RFC 9051 §6.4.5 and extensions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchAttribute {
    Envelope,
    Flags,
    InternalDate,
    Rfc822Size,
    /// `RFC822` = `BODY[]` (sets `\Seen`).
    Rfc822,
    /// `RFC822.HEADER` = `BODY.PEEK[HEADER]`.
    Rfc822Header,
    /// `RFC822.TEXT` = `BODY[TEXT]`.
    Rfc822Text,
    /// `BODY`: the non-extensible body structure.
    Body,
    BodyStructure,
    Uid,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<Partial>,
    },
    /// RFC 3516 `BINARY[part]<partial>` or `BINARY.PEEK[...]`.
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<Partial>,
    },
    /// RFC 3516 `BINARY.SIZE[part]`.
    BinarySize {
        part: Vec<u32>,
    },
    /// RFC 7162 §3.1.4.
    ModSeq,
    /// RFC 8474 §5.
    EmailId,
    ThreadId,
    /// RFC 8514.
    SaveDate,
    /// RFC 8970 `PREVIEW`, with `lazy` for the `(LAZY)` modifier (the
    /// preview may be NIL when not computed yet).
    Preview {
        lazy: bool,
    },
    /// Gmail X-GM-EXT-1.
    XGmMsgId,
    XGmThrId,
    XGmLabels,
}

impl FetchAttribute {
    /// Whether fetching this sets `\Seen` (RFC 9051 §6.4.5).
    pub fn sets_seen(&self) -> bool {
        matches!(
            self,
            FetchAttribute::Rfc822
                | FetchAttribute::Rfc822Text
                | FetchAttribute::BodySection { peek: false, .. }
                | FetchAttribute::Binary { peek: false, .. }
        )
    }
}

/// STORE (RFC 9051 §6.4.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    pub uid: bool,
    pub set: SequenceSet,
    /// RFC 7162 §3.1.3.
    pub unchanged_since: Option<u64>,
    pub mode: StoreMode,
    /// `.SILENT`
    pub silent: bool,
    pub what: StoreWhat,
}

/// `FLAGS`, `+FLAGS`, `-FLAGS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    Replace,
    Add,
    Remove,
}

/// What STORE changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreWhat {
    Flags(Vec<Keyword>),
    /// Gmail `X-GM-LABELS`: labels decoded like mailbox names; system labels
    /// keep their backslash (`\Inbox`, `\Starred`).
    GmLabels(Vec<String>),
}

/// SORT (RFC 5256 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sort {
    pub uid: bool,
    /// `RETURN (...)` (RFC 5267 §3, ESORT): answered with ESEARCH, MIN and
    /// MAX being the first and last message in sort order and ALL in sort
    /// order; `Some(vec![])` means `ALL`. `None`: a classic `SORT` response.
    pub return_options: Option<Vec<SearchReturn>>,
    pub criteria: Vec<SortCriterion>,
    /// Upper-cased; `US-ASCII` or `UTF-8`.
    pub charset: String,
    pub search: Vec<SearchKey>,
}

/// One sort key, possibly reversed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

/// RFC 5256 §3 sort-key, RFC 5957 DISPLAYFROM/DISPLAYTO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

impl SortKey {
    pub(crate) const TABLE: [(&'static str, SortKey); 9] = [
        ("ARRIVAL", SortKey::Arrival),
        ("CC", SortKey::Cc),
        ("DATE", SortKey::Date),
        ("FROM", SortKey::From),
        ("SIZE", SortKey::Size),
        ("SUBJECT", SortKey::Subject),
        ("TO", SortKey::To),
        ("DISPLAYFROM", SortKey::DisplayFrom),
        ("DISPLAYTO", SortKey::DisplayTo),
    ];

    pub fn as_str(self) -> &'static str {
        Self::TABLE
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("ARRIVAL", |(n, _)| n)
    }
}

/// THREAD (RFC 5256 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    pub uid: bool,
    pub algorithm: ThreadAlgorithm,
    pub charset: String,
    pub search: Vec<SearchKey>,
}

/// RFC 5256 §4 threading algorithms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
    /// Any other atom, upper-cased; the server answers BAD (RFC 5256 §3).
    Other(String),
}
