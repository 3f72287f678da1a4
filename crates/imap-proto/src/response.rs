//! Responses a server sends, as typed values, and their serializer
//! (RFC 9051 §7 and the extensions' response grammar).
//!
//! Mailbox names are UTF-8 strings here; [`Response::encode`] writes them in
//! modified UTF-7 unless [`CodecOptions::utf8`] is set. Strings go out as
//! atoms, quoted strings or literals, whichever the bytes allow; message
//! bodies always as literals (`~{n}` literal8 for BINARY data holding NUL).

use tidings_types::Keyword;

use crate::encode::{LiteralSyntax, Writer};
use crate::encode_command::{part, search_return_name};
use crate::parse_command::CodecOptions;
use crate::types::{DateTime, Section, SequenceSet, Tag};
use crate::{PartialRange, SearchReturn, StatusItem};

/// Anything a server sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// `tag OK ...`, `* NO ...`, `* BYE ...`, `* PREAUTH ...`.
    Status(Status),
    /// Untagged data: `* 3 EXISTS`, `* 1 FETCH (...)`.
    Data(Data),
    /// A continuation request: `+ Ready`, or a SASL challenge.
    Continue(Continue),
}

impl From<Status> for Response {
    fn from(s: Status) -> Self {
        Response::Status(s)
    }
}

impl From<Data> for Response {
    fn from(d: Data) -> Self {
        Response::Data(d)
    }
}

impl Data {
    /// The data as a response, to encode.
    pub fn into_response(self) -> Response {
        Response::Data(self)
    }
}

impl Status {
    /// The status as a response, to encode.
    pub fn into_response(self) -> Response {
        Response::Status(self)
    }
}

impl From<Continue> for Response {
    fn from(c: Continue) -> Self {
        Response::Continue(c)
    }
}

/// A status response (RFC 9051 §7.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// `None`: untagged (`*`).
    pub tag: Option<Tag>,
    pub kind: StatusKind,
    pub code: Option<Code>,
    /// Human-readable text; NUL, CR and LF are written as spaces, and an
    /// empty text as `done` (RFC 9051 §9: text = 1*TEXT-CHAR).
    pub text: String,
}

impl Status {
    fn new(tag: Option<Tag>, kind: StatusKind, text: &str) -> Self {
        Status {
            tag,
            kind,
            code: None,
            text: text.to_string(),
        }
    }

    /// `tag OK text`
    pub fn ok(tag: &Tag, text: &str) -> Self {
        Self::new(Some(tag.clone()), StatusKind::Ok, text)
    }

    /// `tag NO text`
    pub fn no(tag: &Tag, text: &str) -> Self {
        Self::new(Some(tag.clone()), StatusKind::No, text)
    }

    /// `tag BAD text`
    pub fn bad(tag: &Tag, text: &str) -> Self {
        Self::new(Some(tag.clone()), StatusKind::Bad, text)
    }

    /// `* OK text` (greetings, untagged codes such as `[UIDVALIDITY n]`).
    pub fn untagged_ok(text: &str) -> Self {
        Self::new(None, StatusKind::Ok, text)
    }

    /// `* NO text` (warnings).
    pub fn untagged_no(text: &str) -> Self {
        Self::new(None, StatusKind::No, text)
    }

    /// `* BAD text`: an error with no tag to report it against.
    pub fn untagged_bad(text: &str) -> Self {
        Self::new(None, StatusKind::Bad, text)
    }

    /// `* BYE text`
    pub fn bye(text: &str) -> Self {
        Self::new(None, StatusKind::Bye, text)
    }

    /// `* PREAUTH text`
    pub fn preauth(text: &str) -> Self {
        Self::new(None, StatusKind::PreAuth, text)
    }

    /// The same response with a response code.
    pub fn with_code(mut self, code: Code) -> Self {
        self.code = Some(code);
        self
    }
}

/// RFC 9051 §7.1 status kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKind {
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

impl StatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Ok => "OK",
            StatusKind::No => "NO",
            StatusKind::Bad => "BAD",
            StatusKind::PreAuth => "PREAUTH",
            StatusKind::Bye => "BYE",
        }
    }
}

/// Response codes (RFC 9051 §7.1, RFC 5530, and the extensions named on
/// each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Code {
    Alert,
    /// RFC 5530
    AlreadyExists,
    AuthenticationFailed,
    AuthorizationFailed,
    Cannot,
    ClientBug,
    /// RFC 7162 §3.2.11
    Closed,
    /// RFC 4978
    CompressionActive,
    ContactAdmin,
    Corruption,
    Expired,
    ExpungeIssued,
    HasChildren,
    InUse,
    Limit,
    /// RFC 7162 §3.1.2.2
    NoModSeq,
    /// RFC 5465 §5.8: notifications were dropped; NOTIFY is off.
    NotificationOverflow,
    NonExistent,
    NoPerm,
    NotSaved,
    OverQuota,
    Parse,
    PrivacyRequired,
    ReadOnly,
    ReadWrite,
    ServerBug,
    /// RFC 7889 / RFC 4469
    TooBig,
    /// RFC 4469 §4 `BADURL url` (grammar in §5): the URL of a CATENATE (or URLFETCH)
    /// part that could not be used.
    BadUrl(String),
    TryCreate,
    /// RFC 4315
    UidNotSticky,
    /// RFC 9586 §3: a message number was used after `ENABLE UIDONLY`.
    UidRequired,
    Unavailable,
    /// RFC 3516
    UnknownCte,
    /// RFC 6154
    UseAttr,
    BadCharset(Vec<String>),
    /// RFC 5465 §5, §8: `BADEVENT (event ...)`.
    BadEvent(Vec<String>),
    /// RFC 5267 §4.4.1: `NOUPDATE "tag"`: that search gets no updates.
    NoUpdate(String),
    /// RFC 9585 §4: `INPROGRESS ("tag" count goal)`, the progress of the
    /// command with that tag; each part may be NIL (`None`), and all of
    /// them NIL is written as the bare `INPROGRESS`.
    InProgress {
        tag: Option<String>,
        count: Option<u32>,
        goal: Option<u32>,
    },
    Capability(Vec<String>),
    /// `PERMANENTFLAGS (\Seen ... \*)`; `any_keyword` adds `\*`.
    PermanentFlags {
        flags: Vec<Keyword>,
        any_keyword: bool,
    },
    UidNext(u32),
    UidValidity(u32),
    Unseen(u32),
    /// RFC 7162 §3.1.2.1
    HighestModSeq(u64),
    /// RFC 4315 §3
    AppendUid {
        uid_validity: u32,
        uids: SequenceSet,
    },
    /// RFC 4315 §3
    CopyUid {
        uid_validity: u32,
        source: SequenceSet,
        destination: SequenceSet,
    },
    /// RFC 7162 §3.1.3
    Modified(SequenceSet),
    /// RFC 8474 §4.1
    MailboxId(String),
    /// Any other atom with optional text.
    Other {
        name: String,
        text: Option<String>,
    },
}

/// The codes that are a bare atom.
const SIMPLE_CODES: &[(&str, Code)] = &[
    ("ALERT", Code::Alert),
    ("ALREADYEXISTS", Code::AlreadyExists),
    ("AUTHENTICATIONFAILED", Code::AuthenticationFailed),
    ("AUTHORIZATIONFAILED", Code::AuthorizationFailed),
    ("CANNOT", Code::Cannot),
    ("CLIENTBUG", Code::ClientBug),
    ("CLOSED", Code::Closed),
    ("COMPRESSIONACTIVE", Code::CompressionActive),
    ("CONTACTADMIN", Code::ContactAdmin),
    ("CORRUPTION", Code::Corruption),
    ("EXPIRED", Code::Expired),
    ("EXPUNGEISSUED", Code::ExpungeIssued),
    ("HASCHILDREN", Code::HasChildren),
    ("INUSE", Code::InUse),
    ("LIMIT", Code::Limit),
    ("NOMODSEQ", Code::NoModSeq),
    ("NOTIFICATIONOVERFLOW", Code::NotificationOverflow),
    ("NONEXISTENT", Code::NonExistent),
    ("NOPERM", Code::NoPerm),
    ("NOTSAVED", Code::NotSaved),
    ("OVERQUOTA", Code::OverQuota),
    ("PARSE", Code::Parse),
    ("PRIVACYREQUIRED", Code::PrivacyRequired),
    ("READ-ONLY", Code::ReadOnly),
    ("READ-WRITE", Code::ReadWrite),
    ("SERVERBUG", Code::ServerBug),
    ("TOOBIG", Code::TooBig),
    ("TRYCREATE", Code::TryCreate),
    ("UIDNOTSTICKY", Code::UidNotSticky),
    ("UIDREQUIRED", Code::UidRequired),
    ("UNAVAILABLE", Code::Unavailable),
    ("UNKNOWN-CTE", Code::UnknownCte),
    ("USEATTR", Code::UseAttr),
];

pub(crate) fn simple_code(name: &str) -> Option<Code> {
    SIMPLE_CODES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| c.clone())
}

/// A continuation request (RFC 9051 §7.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Continue {
    /// `+ text`, e.g. `+ Ready for literal data`.
    Text(String),
    /// `+ base64`: a SASL challenge (empty for `+ `).
    Challenge(Vec<u8>),
}

/// Untagged data responses (RFC 9051 §7.2 – §7.5 and extensions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    Capability(Vec<String>),
    List(ListItem),
    Lsub(ListItem),
    /// `* STATUS mailbox (...)`
    Status {
        mailbox: String,
        items: Vec<StatusValue>,
    },
    Flags(Vec<Keyword>),
    Exists(u32),
    Recent(u32),
    Expunge(u32),
    /// RFC 7162 §3.2.10: `* VANISHED [(EARLIER)] uids`
    Vanished {
        earlier: bool,
        uids: SequenceSet,
    },
    /// `* seq FETCH (...)`
    Fetch {
        seq: u32,
        items: Vec<FetchItem>,
    },
    /// `* uid UIDFETCH (...)` (RFC 9586 §3.3): FETCH data once UIDONLY is
    /// enabled, named by UID.
    UidFetch {
        uid: u32,
        items: Vec<FetchItem>,
    },
    /// `* SEARCH n...` with RFC 7162 §3.1.5 `(MODSEQ n)`.
    Search {
        ids: Vec<u32>,
        mod_seq: Option<u64>,
    },
    /// RFC 4731 §3.1 `* ESEARCH (TAG "t") UID MIN 1 ...`
    ESearch(ESearch),
    /// RFC 5256 §4 `* SORT n...` (with RFC 7162 MODSEQ).
    Sort {
        ids: Vec<u32>,
        mod_seq: Option<u64>,
    },
    /// RFC 5256 §4 `* THREAD (..)(..)`
    Thread(Vec<ThreadTree>),
    /// RFC 2342 `* NAMESPACE personal other shared`
    Namespace {
        personal: Vec<NamespaceDesc>,
        other: Vec<NamespaceDesc>,
        shared: Vec<NamespaceDesc>,
    },
    /// RFC 2971 `* ID (...)` or `* ID NIL`.
    Id(Option<Vec<(String, Option<String>)>>),
    /// RFC 5161 `* ENABLED cap...`
    Enabled(Vec<String>),
    /// RFC 9208 §5.1 `* QUOTA root (STORAGE used limit ...)`
    Quota {
        root: String,
        resources: Vec<QuotaResource>,
    },
    /// RFC 9208 §5.2 `* QUOTAROOT mailbox root...`
    QuotaRoot {
        mailbox: String,
        roots: Vec<String>,
    },
    /// RFC 5464 §4.4.1: `* METADATA mailbox (entry value ...)`; the
    /// mailbox is empty for server entries.
    Metadata {
        mailbox: String,
        entries: Vec<(String, Option<Vec<u8>>)>,
    },
    /// RFC 4467 §8.2: `* GENURLAUTH url...`, the authorized URLs.
    GenUrlAuth(Vec<String>),
    /// RFC 4467 §8.3: `* URLFETCH url data ...`; `None` (NIL) for a URL
    /// that gives nothing.
    UrlFetch(Vec<(String, Option<Vec<u8>>)>),
    /// RFC 4314 §3.6 `* ACL mailbox identifier rights ...`
    Acl {
        mailbox: String,
        entries: Vec<(String, String)>,
    },
    /// RFC 4314 §3.7 `* LISTRIGHTS mailbox identifier required optional...`
    ListRights {
        mailbox: String,
        identifier: String,
        required: String,
        optional: Vec<String>,
    },
    /// RFC 4314 §3.8 `* MYRIGHTS mailbox rights`
    MyRights {
        mailbox: String,
        rights: String,
    },
}

/// A LIST or LSUB reply (RFC 9051 §7.3.1, RFC 5258 §3.4, RFC 5465 OLDNAME).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListItem {
    /// As written: `\HasNoChildren`, `\Sent`, `\Subscribed`.
    pub attributes: Vec<String>,
    /// The hierarchy delimiter, or `None` for a flat name space (NIL).
    pub delimiter: Option<char>,
    pub mailbox: String,
    /// RFC 5258 §3.5 `CHILDINFO` selection options that matched children.
    pub child_info: Vec<String>,
    /// RFC 9051 §7.3.1 `OLDNAME` after a RENAME.
    pub old_name: Option<String>,
}

/// One STATUS value (see [`StatusItem`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusValue {
    Messages(u32),
    UidNext(u32),
    UidValidity(u32),
    Unseen(u32),
    Deleted(u32),
    /// RFC 8438
    Size(u64),
    Recent(u32),
    HighestModSeq(u64),
    /// RFC 7889; `None` is NIL (no limit).
    AppendLimit(Option<u64>),
    /// RFC 8474
    MailboxId(String),
}

impl StatusValue {
    pub fn item(&self) -> StatusItem {
        match self {
            StatusValue::Messages(_) => StatusItem::Messages,
            StatusValue::UidNext(_) => StatusItem::UidNext,
            StatusValue::UidValidity(_) => StatusItem::UidValidity,
            StatusValue::Unseen(_) => StatusItem::Unseen,
            StatusValue::Deleted(_) => StatusItem::Deleted,
            StatusValue::Size(_) => StatusItem::Size,
            StatusValue::Recent(_) => StatusItem::Recent,
            StatusValue::HighestModSeq(_) => StatusItem::HighestModSeq,
            StatusValue::AppendLimit(_) => StatusItem::AppendLimit,
            StatusValue::MailboxId(_) => StatusItem::MailboxId,
        }
    }
}

/// RFC 4731 ESEARCH response.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ESearch {
    /// The command's tag (search-correlator).
    pub tag: Option<Tag>,
    pub uid: bool,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub all: Option<SequenceSet>,
    pub count: Option<u32>,
    /// RFC 9394 §3.1 `PARTIAL (range set|NIL)`: the range asked for and
    /// the results in it (`None`: none, written `NIL`).
    pub partial: Option<(PartialRange, Option<SequenceSet>)>,
    /// RFC 7162 §3.1.5
    pub mod_seq: Option<u64>,
    /// RFC 5267 §4.3: `ADDTO (position set)` / `REMOVEFROM (position
    /// set)` updates of a search context, in order.
    pub updates: Vec<ContextUpdate>,
}

/// One RFC 5267 §4.3 update of a search context; `position` is 0 for an
/// unsorted SEARCH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextUpdate {
    pub add: bool,
    pub position: u32,
    pub set: SequenceSet,
}

/// A thread (RFC 5256 §4): a chain of messages, each the parent of the
/// next, then the sub-threads that branch off the last one. An empty
/// `members` is a missing parent (`((3)(5))`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadTree {
    pub members: Vec<u32>,
    pub children: Vec<ThreadTree>,
}

/// One namespace (RFC 2342 §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceDesc {
    pub prefix: String,
    pub delimiter: Option<char>,
}

/// RFC 9208 §5.1 quota-resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaResource {
    /// `STORAGE` (KiB), `MESSAGE`, `MAILBOX`...
    pub name: String,
    pub usage: u64,
    pub limit: u64,
}

/// One FETCH response item (RFC 9051 §7.5.2 and extensions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchItem {
    /// `FLAGS (...)`; `recent` adds `\Recent` (IMAP4rev1 only).
    Flags {
        flags: Vec<Keyword>,
        recent: bool,
    },
    InternalDate(DateTime),
    Rfc822Size(u64),
    Envelope(Box<Envelope>),
    /// `BODY (...)`: the body structure without extension data.
    Body(Box<BodyStructure>),
    BodyStructure(Box<BodyStructure>),
    Uid(u32),
    /// `BODY[section]<origin> data`
    BodySection {
        section: Section,
        origin: Option<u32>,
        data: Option<Vec<u8>>,
    },
    /// RFC 3516 `BINARY[part]<origin> data`
    Binary {
        part: Vec<u32>,
        origin: Option<u32>,
        data: Option<Vec<u8>>,
    },
    /// RFC 3516 `BINARY.SIZE[part] n`
    BinarySize {
        part: Vec<u32>,
        size: u64,
    },
    Rfc822(Option<Vec<u8>>),
    Rfc822Header(Option<Vec<u8>>),
    Rfc822Text(Option<Vec<u8>>),
    /// RFC 7162 `MODSEQ (n)`
    ModSeq(u64),
    /// RFC 8474 `EMAILID (id)`
    EmailId(String),
    /// RFC 8474 `THREADID (id)` or `THREADID NIL`
    ThreadId(Option<String>),
    /// RFC 8514 `SAVEDATE "..."` or NIL
    SaveDate(Option<DateTime>),
    /// RFC 8970 `PREVIEW nstring`: at most 256 characters of UTF-8 text.
    Preview(Option<String>),
    XGmMsgId(u64),
    XGmThrId(u64),
    /// Labels as mailbox names; system labels keep their backslash.
    XGmLabels(Vec<String>),
}

/// RFC 9051 §7.5.2 envelope. Header texts are bytes as they are in the
/// message (`None` is NIL); an empty address list is NIL.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Envelope {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<Vec<u8>>,
    pub message_id: Option<Vec<u8>>,
}

/// RFC 9051 §7.5.2 address. A group starts with `host: None` and the group
/// name in `mailbox`, and ends with `mailbox: None, host: None`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

/// A body structure (RFC 9051 §7.5.2 BODYSTRUCTURE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyStructure {
    Single(SinglePart),
    Multipart(Multipart),
}

/// A non-multipart body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinglePart {
    /// `TEXT`, `IMAGE`, `MESSAGE`...
    pub media_type: String,
    pub subtype: String,
    /// body-fld-param (empty is NIL).
    pub params: Vec<(String, String)>,
    pub id: Option<Vec<u8>>,
    pub description: Option<Vec<u8>>,
    /// `7BIT`, `BASE64`...
    pub encoding: String,
    /// Size in octets of the encoded body.
    pub size: u32,
    pub kind: SinglePartKind,
    /// Extension data (BODYSTRUCTURE only).
    pub ext: Option<SinglePartExt>,
}

/// What follows the basic fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinglePartKind {
    Basic,
    /// `TEXT/*`: the body's line count.
    Text {
        lines: u32,
    },
    /// `MESSAGE/RFC822` or `MESSAGE/GLOBAL`: the embedded message.
    Message {
        envelope: Box<Envelope>,
        body: Box<BodyStructure>,
        lines: u32,
    },
}

/// body-ext-1part.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SinglePartExt {
    pub md5: Option<Vec<u8>>,
    pub disposition: Option<Disposition>,
    /// body-fld-lang (empty is NIL).
    pub language: Vec<String>,
    pub location: Option<Vec<u8>>,
}

/// A multipart body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Multipart {
    /// One or more parts.
    pub parts: Vec<BodyStructure>,
    pub subtype: String,
    pub ext: Option<MultipartExt>,
}

/// body-ext-mpart.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MultipartExt {
    pub params: Vec<(String, String)>,
    pub disposition: Option<Disposition>,
    pub language: Vec<String>,
    pub location: Option<Vec<u8>>,
}

/// body-fld-dsp: `("attachment" ("filename" "a.pdf"))`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disposition {
    pub kind: String,
    pub params: Vec<(String, String)>,
}

impl Response {
    /// Appends the response's bytes, CRLF included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>, opts: CodecOptions) {
        let mut w = Writer {
            out,
            utf8: opts.utf8,
            literal: LiteralSyntax::Sync,
            sync_points: Vec::new(),
        };
        match self {
            Response::Status(s) => status(&mut w, s),
            Response::Data(d) => data(&mut w, d),
            Response::Continue(Continue::Text(t)) => {
                w.str("+ ");
                text(&mut w, t);
            }
            Response::Continue(Continue::Challenge(c)) => {
                use base64::Engine as _;
                w.str("+ ");
                w.str(&base64::engine::general_purpose::STANDARD.encode(c));
            }
        }
        w.str("\r\n");
    }

    /// Appends a FETCH (or UIDFETCH) response whose item `at` is a body
    /// section of `len` bytes that the caller sends itself, a piece at a
    /// time: `out` gets everything up to and including that item's literal
    /// prefix `{len}\r\n`; the returned bytes are the rest of the response,
    /// to be written after the `len` data bytes. Item `at` must be a body
    /// item (`BODY[…]`, `RFC822`, `RFC822.TEXT`, `RFC822.HEADER`) holding
    /// `Some` empty data as a placeholder; otherwise nothing is appended
    /// and the answer is `None`.
    pub fn encode_streamed(
        &self,
        out: &mut Vec<u8>,
        opts: CodecOptions,
        at: usize,
        len: u64,
    ) -> Option<Vec<u8>> {
        let (head, items) = match self {
            Response::Data(Data::Fetch { seq, items }) => (format!("* {seq} FETCH ("), items),
            Response::Data(Data::UidFetch { uid, items }) => (format!("* {uid} UIDFETCH ("), items),
            _ => return None,
        };
        let placeholder = match items.get(at)? {
            FetchItem::BodySection { data, .. }
            | FetchItem::Rfc822(data)
            | FetchItem::Rfc822Header(data)
            | FetchItem::Rfc822Text(data) => data.as_ref().is_some_and(Vec::is_empty),
            _ => false,
        };
        if !placeholder {
            return None;
        }
        let start = out.len();
        let mut w = Writer {
            out,
            utf8: opts.utf8,
            literal: LiteralSyntax::Sync,
            sync_points: Vec::new(),
        };
        w.str(&head);
        for (i, item) in items[..=at].iter().enumerate() {
            if i > 0 {
                w.sp();
            }
            fetch_item(&mut w, item);
        }
        // The placeholder's empty literal becomes the announced length.
        if !w.out.ends_with(b"{0}\r\n") {
            w.out.truncate(start);
            return None;
        }
        let cut = w.out.len() - b"{0}\r\n".len();
        w.out.truncate(cut);
        w.fmt(format_args!("{{{len}}}\r\n"));
        let mut rest = Vec::new();
        let mut w = Writer {
            out: &mut rest,
            utf8: opts.utf8,
            literal: LiteralSyntax::Sync,
            sync_points: Vec::new(),
        };
        for item in &items[at + 1..] {
            w.sp();
            fetch_item(&mut w, item);
        }
        w.str(")\r\n");
        Some(rest)
    }

    /// The response's bytes.
    pub fn to_bytes(&self, opts: CodecOptions) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out, opts);
        out
    }
}

fn text(w: &mut Writer<'_>, t: &str) {
    if t.is_empty() {
        w.str("done");
        return;
    }
    // RFC 9051 §9 TEXT-CHAR: no NUL, CR or LF.
    for c in t.chars() {
        if c == '\r' || c == '\n' || c == '\0' {
            w.sp();
        } else {
            let mut b = [0u8; 4];
            w.str(c.encode_utf8(&mut b));
        }
    }
}

fn status(w: &mut Writer<'_>, s: &Status) {
    match &s.tag {
        Some(t) => w.str(t.as_str()),
        None => w.str("*"),
    }
    w.sp();
    w.str(s.kind.as_str());
    w.sp();
    if let Some(c) = &s.code {
        w.str("[");
        code(w, c);
        w.str("] ");
    }
    text(w, &s.text);
}

fn code(w: &mut Writer<'_>, c: &Code) {
    if let Some((n, _)) = SIMPLE_CODES.iter().find(|(_, k)| k == c) {
        w.str(n);
        return;
    }
    match c {
        Code::BadCharset(cs) => {
            w.str("BADCHARSET");
            if !cs.is_empty() {
                w.sp();
                w.list(cs, |w, c| w.astring(c.as_bytes()));
            }
        }
        Code::NoUpdate(tag) => {
            w.str("NOUPDATE ");
            w.quoted(tag.as_bytes());
        }
        Code::InProgress {
            tag: None,
            count: None,
            goal: None,
        } => w.str("INPROGRESS"),
        Code::InProgress { tag, count, goal } => {
            w.str("INPROGRESS (");
            match tag {
                Some(t) => w.quoted(t.as_bytes()),
                None => w.str("NIL"),
            }
            for n in [count, goal] {
                w.sp();
                match n {
                    Some(n) => w.fmt(format_args!("{n}")),
                    None => w.str("NIL"),
                }
            }
            w.str(")");
        }
        Code::BadEvent(events) => {
            w.str("BADEVENT ");
            w.list(events, |w, e| w.str(e));
        }
        Code::Capability(caps) => {
            w.str("CAPABILITY");
            for c in caps {
                w.sp();
                w.str(c);
            }
        }
        Code::PermanentFlags { flags, any_keyword } => {
            w.str("PERMANENTFLAGS (");
            let mut all: Vec<&str> = flags.iter().map(Keyword::as_str).collect();
            if *any_keyword {
                all.push("\\*");
            }
            w.str(&all.join(" "));
            w.str(")");
        }
        Code::UidNext(n) => w.fmt(format_args!("UIDNEXT {n}")),
        Code::UidValidity(n) => w.fmt(format_args!("UIDVALIDITY {n}")),
        Code::Unseen(n) => w.fmt(format_args!("UNSEEN {n}")),
        Code::HighestModSeq(n) => w.fmt(format_args!("HIGHESTMODSEQ {n}")),
        Code::AppendUid { uid_validity, uids } => {
            w.fmt(format_args!("APPENDUID {uid_validity} {uids}"));
        }
        Code::CopyUid {
            uid_validity,
            source,
            destination,
        } => {
            w.fmt(format_args!(
                "COPYUID {uid_validity} {source} {destination}"
            ));
        }
        Code::Modified(set) => w.fmt(format_args!("MODIFIED {set}")),
        Code::MailboxId(id) => w.fmt(format_args!("MAILBOXID ({id})")),
        // RFC 4469 §5 (errata 2002, 4046): the bare URL, no ']' in it.
        Code::BadUrl(url) => {
            w.str("BADURL ");
            w.str(&url.replace([']', '\r', '\n', '\0'], " "));
        }
        Code::Other { name, text } => {
            w.str(name);
            if let Some(t) = text {
                w.sp();
                // resp-text-code text must not contain ']'.
                w.str(&t.replace([']', '\r', '\n', '\0'], " "));
            }
        }
        _ => {}
    }
}

fn numbers(w: &mut Writer<'_>, ids: &[u32]) {
    for n in ids {
        w.sp();
        w.num(n);
    }
}

fn delimiter(w: &mut Writer<'_>, d: Option<char>) {
    match d {
        Some(d) => {
            let mut b = [0u8; 4];
            w.quoted(d.encode_utf8(&mut b).as_bytes());
        }
        None => w.str("NIL"),
    }
}

fn list_item(w: &mut Writer<'_>, l: &ListItem) {
    w.list(&l.attributes, |w, a| w.str(a));
    w.sp();
    delimiter(w, l.delimiter);
    w.sp();
    w.mailbox(&l.mailbox);
    if !l.child_info.is_empty() || l.old_name.is_some() {
        // RFC 5258 §3.5 mbox-list-extended
        w.str(" (");
        if !l.child_info.is_empty() {
            w.str("\"CHILDINFO\" ");
            w.list(&l.child_info, |w, c| w.quoted(c.as_bytes()));
            if l.old_name.is_some() {
                w.sp();
            }
        }
        if let Some(o) = &l.old_name {
            w.str("\"OLDNAME\" (");
            w.mailbox(o);
            w.str(")");
        }
        w.str(")");
    }
}

fn data(w: &mut Writer<'_>, d: &Data) {
    w.str("* ");
    match d {
        Data::Capability(caps) => {
            w.str("CAPABILITY");
            for c in caps {
                w.sp();
                w.str(c);
            }
        }
        Data::List(l) => {
            w.str("LIST ");
            list_item(w, l);
        }
        Data::Lsub(l) => {
            w.str("LSUB ");
            list_item(w, l);
        }
        Data::Status { mailbox, items } => {
            w.str("STATUS ");
            w.mailbox(mailbox);
            w.sp();
            w.list(items, |w, v| {
                w.str(v.item().as_str());
                w.sp();
                match v {
                    StatusValue::Messages(n)
                    | StatusValue::UidNext(n)
                    | StatusValue::UidValidity(n)
                    | StatusValue::Unseen(n)
                    | StatusValue::Deleted(n)
                    | StatusValue::Recent(n) => w.num(n),
                    StatusValue::Size(n) | StatusValue::HighestModSeq(n) => w.num(n),
                    StatusValue::AppendLimit(Some(n)) => w.num(n),
                    StatusValue::AppendLimit(None) => w.str("NIL"),
                    StatusValue::MailboxId(id) => w.fmt(format_args!("({id})")),
                }
            });
        }
        Data::Flags(flags) => {
            w.str("FLAGS ");
            w.list(flags, |w, f| w.str(f.as_str()));
        }
        Data::Exists(n) => w.fmt(format_args!("{n} EXISTS")),
        Data::Recent(n) => w.fmt(format_args!("{n} RECENT")),
        Data::Expunge(n) => w.fmt(format_args!("{n} EXPUNGE")),
        Data::Vanished { earlier, uids } => {
            w.str(if *earlier {
                "VANISHED (EARLIER) "
            } else {
                "VANISHED "
            });
            w.num(uids);
        }
        Data::Fetch { seq, items } => {
            w.fmt(format_args!("{seq} FETCH "));
            w.list(items, fetch_item);
        }
        Data::UidFetch { uid, items } => {
            w.fmt(format_args!("{uid} UIDFETCH "));
            w.list(items, fetch_item);
        }
        Data::Search { ids, mod_seq } => {
            w.str("SEARCH");
            numbers(w, ids);
            if let Some(m) = mod_seq {
                w.fmt(format_args!(" (MODSEQ {m})"));
            }
        }
        Data::ESearch(e) => esearch(w, e),
        Data::Sort { ids, mod_seq } => {
            w.str("SORT");
            numbers(w, ids);
            if let Some(m) = mod_seq {
                w.fmt(format_args!(" (MODSEQ {m})"));
            }
        }
        Data::Thread(threads) => {
            w.str("THREAD");
            if !threads.is_empty() {
                w.sp();
            }
            for t in threads {
                thread(w, t);
            }
        }
        Data::Namespace {
            personal,
            other,
            shared,
        } => {
            w.str("NAMESPACE");
            for ns in [personal, other, shared] {
                w.sp();
                if ns.is_empty() {
                    w.str("NIL");
                } else {
                    w.str("(");
                    for n in ns {
                        w.str("(");
                        w.string(
                            (if w.utf8 {
                                n.prefix.clone()
                            } else {
                                crate::utf7::encode(&n.prefix)
                            })
                            .as_bytes(),
                        );
                        w.sp();
                        delimiter(w, n.delimiter);
                        w.str(")");
                    }
                    w.str(")");
                }
            }
        }
        Data::Id(params) => {
            w.str("ID ");
            match params {
                None => w.str("NIL"),
                Some(p) => w.list(p, |w, (k, v)| {
                    w.string(k.as_bytes());
                    w.sp();
                    w.nstring(v.as_deref().map(str::as_bytes));
                }),
            }
        }
        Data::Enabled(caps) => {
            w.str("ENABLED");
            for c in caps {
                w.sp();
                w.str(c);
            }
        }
        Data::Quota { root, resources } => {
            w.str("QUOTA ");
            w.astring(root.as_bytes());
            w.sp();
            w.list(resources, |w, r| {
                w.fmt(format_args!("{} {} {}", r.name, r.usage, r.limit))
            });
        }
        Data::QuotaRoot { mailbox, roots } => {
            w.str("QUOTAROOT ");
            w.mailbox(mailbox);
            for r in roots {
                w.sp();
                w.astring(r.as_bytes());
            }
        }
        Data::Acl { mailbox, entries } => {
            w.str("ACL ");
            w.mailbox(mailbox);
            for (identifier, rights) in entries {
                w.sp();
                w.astring(identifier.as_bytes());
                w.sp();
                w.astring(rights.as_bytes());
            }
        }
        Data::ListRights {
            mailbox,
            identifier,
            required,
            optional,
        } => {
            w.str("LISTRIGHTS ");
            w.mailbox(mailbox);
            w.sp();
            w.astring(identifier.as_bytes());
            w.sp();
            w.astring(required.as_bytes());
            for o in optional {
                w.sp();
                w.astring(o.as_bytes());
            }
        }
        Data::MyRights { mailbox, rights } => {
            w.str("MYRIGHTS ");
            w.mailbox(mailbox);
            w.sp();
            w.astring(rights.as_bytes());
        }
        Data::Metadata { mailbox, entries } => {
            w.str("METADATA ");
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
        Data::GenUrlAuth(urls) => {
            w.str("GENURLAUTH");
            for u in urls {
                w.sp();
                // Quoted, as RFC 4467 §7.2 writes them (an astring).
                w.string(u.as_bytes());
            }
        }
        Data::UrlFetch(items) => {
            w.str("URLFETCH");
            for (u, data) in items {
                w.sp();
                w.string(u.as_bytes());
                w.sp();
                match data {
                    // A message part may hold NUL (RFC 3516 literal8).
                    Some(d) if d.contains(&0) => w.literal8(d),
                    // Always a literal: message data is lines.
                    Some(d) => w.literal(d),
                    None => w.str("NIL"),
                }
            }
        }
    }
}

fn esearch(w: &mut Writer<'_>, e: &ESearch) {
    w.str("ESEARCH");
    if let Some(t) = &e.tag {
        w.str(" (TAG ");
        w.quoted(t.as_str().as_bytes());
        w.str(")");
    }
    if e.uid {
        w.str(" UID");
    }
    let name = search_return_name;
    if let Some(n) = e.min {
        w.fmt(format_args!(" {} {n}", name(SearchReturn::Min)));
    }
    if let Some(n) = e.max {
        w.fmt(format_args!(" {} {n}", name(SearchReturn::Max)));
    }
    if let Some(s) = &e.all {
        w.fmt(format_args!(" ALL {s}"));
    }
    if let Some((range, set)) = &e.partial {
        match set {
            Some(set) => w.fmt(format_args!(" PARTIAL ({range} {set})")),
            None => w.fmt(format_args!(" PARTIAL ({range} NIL)")),
        }
    }
    if let Some(n) = e.count {
        w.fmt(format_args!(" COUNT {n}"));
    }
    if let Some(m) = e.mod_seq {
        w.fmt(format_args!(" MODSEQ {m}"));
    }
    for u in &e.updates {
        let name = if u.add { "ADDTO" } else { "REMOVEFROM" };
        w.fmt(format_args!(" {name} ({} {})", u.position, u.set));
    }
}

fn thread(w: &mut Writer<'_>, t: &ThreadTree) {
    // A single child continues the chain (RFC 5256 §4 thread-members).
    let mut members: Vec<u32> = t.members.clone();
    let mut cur = t;
    while let [only] = cur.children.as_slice() {
        members.extend_from_slice(&only.members);
        cur = only;
    }
    w.str("(");
    w.str(
        &members
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" "),
    );
    if !cur.children.is_empty() {
        if !members.is_empty() {
            w.sp();
        }
        for c in &cur.children {
            thread(w, c);
        }
    }
    w.str(")");
}

fn params(w: &mut Writer<'_>, p: &[(String, String)]) {
    if p.is_empty() {
        w.str("NIL");
    } else {
        w.str("(");
        for (i, (k, v)) in p.iter().enumerate() {
            if i > 0 {
                w.sp();
            }
            w.string(k.as_bytes());
            w.sp();
            w.string(v.as_bytes());
        }
        w.str(")");
    }
}

fn addresses(w: &mut Writer<'_>, a: &[Address]) {
    if a.is_empty() {
        w.str("NIL");
        return;
    }
    w.str("(");
    for addr in a {
        w.str("(");
        w.nstring(addr.name.as_deref());
        w.sp();
        w.nstring(addr.adl.as_deref());
        w.sp();
        w.nstring(addr.mailbox.as_deref());
        w.sp();
        w.nstring(addr.host.as_deref());
        w.str(")");
    }
    w.str(")");
}

pub(crate) fn envelope(w: &mut Writer<'_>, e: &Envelope) {
    w.str("(");
    w.nstring(e.date.as_deref());
    w.sp();
    w.nstring(e.subject.as_deref());
    for a in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
        w.sp();
        addresses(w, a);
    }
    w.sp();
    w.nstring(e.in_reply_to.as_deref());
    w.sp();
    w.nstring(e.message_id.as_deref());
    w.str(")");
}

fn disposition(w: &mut Writer<'_>, d: &Option<Disposition>) {
    match d {
        None => w.str("NIL"),
        Some(d) => {
            w.str("(");
            w.string(d.kind.as_bytes());
            w.sp();
            params(w, &d.params);
            w.str(")");
        }
    }
}

fn language(w: &mut Writer<'_>, l: &[String]) {
    match l {
        [] => w.str("NIL"),
        [one] => w.string(one.as_bytes()),
        many => w.list(many, |w, s| w.string(s.as_bytes())),
    }
}

/// RFC 9051 §9 body; extension data only when `ext`.
pub(crate) fn body_structure(w: &mut Writer<'_>, b: &BodyStructure, ext: bool) {
    w.str("(");
    match b {
        BodyStructure::Single(p) => {
            w.string(p.media_type.as_bytes());
            w.sp();
            w.string(p.subtype.as_bytes());
            w.sp();
            params(w, &p.params);
            w.sp();
            w.nstring(p.id.as_deref());
            w.sp();
            w.nstring(p.description.as_deref());
            w.sp();
            w.string(p.encoding.as_bytes());
            w.sp();
            w.num(p.size);
            match &p.kind {
                SinglePartKind::Basic => {}
                SinglePartKind::Text { lines } => w.fmt(format_args!(" {lines}")),
                SinglePartKind::Message {
                    envelope: e,
                    body,
                    lines,
                } => {
                    w.sp();
                    envelope(w, e);
                    w.sp();
                    body_structure(w, body, ext);
                    w.fmt(format_args!(" {lines}"));
                }
            }
            if let (true, Some(x)) = (ext, &p.ext) {
                w.sp();
                w.nstring(x.md5.as_deref());
                w.sp();
                disposition(w, &x.disposition);
                w.sp();
                language(w, &x.language);
                w.sp();
                w.nstring(x.location.as_deref());
            }
        }
        BodyStructure::Multipart(m) => {
            for p in &m.parts {
                body_structure(w, p, ext);
            }
            w.sp();
            w.string(m.subtype.as_bytes());
            if let (true, Some(x)) = (ext, &m.ext) {
                w.sp();
                params(w, &x.params);
                w.sp();
                disposition(w, &x.disposition);
                w.sp();
                language(w, &x.language);
                w.sp();
                w.nstring(x.location.as_deref());
            }
        }
    }
    w.str(")");
}

fn body_data(w: &mut Writer<'_>, d: &Option<Vec<u8>>) {
    match d {
        Some(d) => w.literal(d),
        None => w.str("NIL"),
    }
}

fn fetch_item(w: &mut Writer<'_>, i: &FetchItem) {
    match i {
        FetchItem::Flags { flags, recent } => {
            w.str("FLAGS (");
            let mut all: Vec<&str> = flags.iter().map(Keyword::as_str).collect();
            if *recent {
                all.push("\\Recent");
            }
            w.str(&all.join(" "));
            w.str(")");
        }
        FetchItem::InternalDate(d) => w.fmt(format_args!("INTERNALDATE \"{d}\"")),
        FetchItem::Rfc822Size(n) => w.fmt(format_args!("RFC822.SIZE {n}")),
        FetchItem::Envelope(e) => {
            w.str("ENVELOPE ");
            envelope(w, e);
        }
        FetchItem::Body(b) => {
            w.str("BODY ");
            body_structure(w, b, false);
        }
        FetchItem::BodyStructure(b) => {
            w.str("BODYSTRUCTURE ");
            body_structure(w, b, true);
        }
        FetchItem::Uid(u) => w.fmt(format_args!("UID {u}")),
        FetchItem::BodySection {
            section,
            origin,
            data,
        } => {
            w.str("BODY[");
            w.section(section);
            w.str("]");
            if let Some(o) = origin {
                w.fmt(format_args!("<{o}>"));
            }
            w.sp();
            body_data(w, data);
        }
        FetchItem::Binary {
            part: p,
            origin,
            data,
        } => {
            w.fmt(format_args!("BINARY[{}]", part(p)));
            if let Some(o) = origin {
                w.fmt(format_args!("<{o}>"));
            }
            w.sp();
            match data {
                Some(d) if d.contains(&0) => w.literal8(d),
                _ => body_data(w, data),
            }
        }
        FetchItem::BinarySize { part: p, size } => {
            w.fmt(format_args!("BINARY.SIZE[{}] {size}", part(p)));
        }
        FetchItem::Rfc822(d) => {
            w.str("RFC822 ");
            body_data(w, d);
        }
        FetchItem::Rfc822Header(d) => {
            w.str("RFC822.HEADER ");
            body_data(w, d);
        }
        FetchItem::Rfc822Text(d) => {
            w.str("RFC822.TEXT ");
            body_data(w, d);
        }
        FetchItem::ModSeq(m) => w.fmt(format_args!("MODSEQ ({m})")),
        FetchItem::EmailId(id) => w.fmt(format_args!("EMAILID ({id})")),
        FetchItem::ThreadId(Some(id)) => w.fmt(format_args!("THREADID ({id})")),
        FetchItem::ThreadId(None) => w.str("THREADID NIL"),
        FetchItem::SaveDate(Some(d)) => w.fmt(format_args!("SAVEDATE \"{d}\"")),
        FetchItem::SaveDate(None) => w.str("SAVEDATE NIL"),
        FetchItem::Preview(text) => {
            w.str("PREVIEW ");
            w.nstring(text.as_deref().map(str::as_bytes));
        }
        FetchItem::XGmMsgId(n) => w.fmt(format_args!("X-GM-MSGID {n}")),
        FetchItem::XGmThrId(n) => w.fmt(format_args!("X-GM-THRID {n}")),
        FetchItem::XGmLabels(labels) => {
            w.str("X-GM-LABELS ");
            w.list(labels, |w, l| crate::encode_command::label(w, l));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section() -> FetchItem {
        FetchItem::BodySection {
            section: Section {
                part: vec![],
                text: None,
            },
            origin: None,
            data: Some(Vec::new()),
        }
    }

    /// The head, the data and the rest of a streamed response are the
    /// bytes of the same response encoded whole.
    #[test]
    fn a_streamed_item_encodes_as_the_whole_response() {
        let body = b"Subject: x\r\n\r\nhello\r\n".to_vec();
        let opts = CodecOptions::default();
        for at in 0..3 {
            let mut items = vec![FetchItem::Uid(7), FetchItem::Rfc822Size(21)];
            items.insert(at, section());
            let streamed = Response::Data(Data::Fetch {
                seq: 3,
                items: items.clone(),
            });
            let mut out = Vec::new();
            let rest = streamed
                .encode_streamed(&mut out, opts, at, body.len() as u64)
                .expect("a placeholder body item");
            out.extend_from_slice(&body);
            out.extend_from_slice(&rest);
            if let FetchItem::BodySection { data, .. } = &mut items[at] {
                *data = Some(body.clone());
            }
            let whole = Response::Data(Data::Fetch { seq: 3, items }).to_bytes(opts);
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&whole)
            );
        }
    }

    #[test]
    fn only_a_placeholder_body_item_is_streamed() {
        let opts = CodecOptions::default();
        let r = Response::Data(Data::UidFetch {
            uid: 9,
            items: vec![FetchItem::Rfc822Size(5), section()],
        });
        let mut out = Vec::new();
        assert!(r.encode_streamed(&mut out, opts, 0, 5).is_none());
        assert!(out.is_empty());
        assert_eq!(
            r.encode_streamed(&mut out, opts, 1, 5),
            Some(b")\r\n".to_vec())
        );
        assert_eq!(out, b"* 9 UIDFETCH (RFC822.SIZE 5 BODY[] {5}\r\n");
    }
}
