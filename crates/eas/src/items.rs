//! One email as an ActiveSync item (MS-ASEMAIL §2.2.2): the properties
//! of Sync's ApplicationData, ItemOperations' and Find's Properties, and
//! the body in the form and size the client prefers (MS-ASAIRS §2.2.2.7
//! BodyPreference).

use mail_parser::{MessageParser, MimeHeaders};
use tidings_eas_proto::tags::{AirSync, AirSyncBase, Email, Email2};
use tidings_eas_proto::{Element, Tag};
use tidings_store::{Address, MailboxEntry, Store};
use tidings_types::{AccountId, Keyword, MailboxId};

use crate::state::{FLAGGED, READ};
use crate::{Result, date};

/// Body types (MS-ASAIRS §2.2.2.22.1).
pub(crate) const PLAIN: u8 = 1;
pub(crate) const HTML: u8 = 2;
pub(crate) const MIME: u8 = 4;

/// What the client asked for its bodies.
#[derive(Clone, Debug, Default)]
pub(crate) struct BodyOptions {
    /// In the client's order of preference.
    pub prefs: Vec<BodyPref>,
    /// MIMESupport: 0 never, 1 for S/MIME messages, 2 always.
    pub mime_support: u8,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyPref {
    pub kind: u8,
    pub truncation: Option<usize>,
    pub all_or_none: bool,
    pub preview: Option<usize>,
}

impl BodyOptions {
    /// From an Options element (Sync, ItemOperations, Find).
    pub(crate) fn from_options(options: Option<&Element>) -> BodyOptions {
        let Some(o) = options else {
            return BodyOptions::default();
        };
        let num =
            |e: &Element, t: Tag| e.child_text(t).and_then(|v| v.trim().parse::<usize>().ok());
        let prefs = o
            .children_with(AirSyncBase::BodyPreference)
            .filter_map(|p| {
                let kind = u8::try_from(num(p, AirSyncBase::Type)?).ok()?;
                Some(BodyPref {
                    kind,
                    truncation: num(p, AirSyncBase::TruncationSize),
                    all_or_none: p.child_text(AirSyncBase::AllOrNone).as_deref() == Some("1"),
                    preview: num(p, AirSyncBase::Preview),
                })
            })
            .collect();
        let mime_support = num(o, AirSync::MIMESupport)
            .and_then(|n| u8::try_from(n).ok())
            .unwrap_or(0);
        BodyOptions {
            prefs,
            mime_support,
        }
    }

    fn choose(&self, smime: bool) -> BodyPref {
        let mime_wanted = self.mime_support == 2 || (self.mime_support == 1 && smime);
        if mime_wanted && let Some(p) = self.prefs.iter().find(|p| p.kind == MIME) {
            return *p;
        }
        self.prefs
            .iter()
            .find(|p| p.kind == PLAIN || p.kind == HTML || p.kind == MIME)
            .copied()
            .unwrap_or(BodyPref {
                kind: PLAIN,
                truncation: None,
                all_or_none: false,
                preview: None,
            })
    }
}

/// The categories of an entry: its user keywords (not system flags such
/// as `\Seen` nor `$`-keywords such as `$Forwarded`), sorted.
pub(crate) fn categories_of(entry: &MailboxEntry) -> Vec<String> {
    let mut out: Vec<String> = entry
        .keywords
        .iter()
        .map(|k| k.as_str().to_string())
        .filter(|k| !k.starts_with('\\') && !k.starts_with('$'))
        .collect();
    out.sort();
    out
}

/// What an entry shows a device: [`READ`], [`FLAGGED`], and a hash of
/// its categories above them (FNV-1a), so a category change is a change.
pub(crate) fn flags_of(entry: &MailboxEntry) -> u32 {
    let has = |k: &str| entry.keywords.iter().any(|x| x.matches(k));
    let flags = (if has(Keyword::SEEN) { READ } else { 0 })
        | (if has(Keyword::FLAGGED) { FLAGGED } else { 0 });
    let categories = categories_of(entry);
    if categories.is_empty() {
        return flags;
    }
    let mut h: u32 = 0x811c_9dc5;
    for b in categories.join("\0").bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    flags | ((h | 1) << 2)
}

pub(crate) fn server_id(mailbox: MailboxId, uid: u32) -> String {
    format!("{}:{uid}", mailbox.0)
}

/// `mailbox:uid` → (mailbox, uid).
pub(crate) fn parse_server_id(s: &str) -> Option<(i64, u32)> {
    let (m, u) = s.split_once(':')?;
    Some((m.parse().ok()?, u.parse().ok()?))
}

fn addresses(list: &[Address]) -> String {
    list.iter()
        .filter_map(|a| {
            let email = a.email.as_deref()?;
            Some(match a.name.as_deref().filter(|n| !n.is_empty()) {
                Some(n) => format!("\"{}\" <{email}>", n.replace('"', "'")),
                None => email.to_string(),
            })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn display_names(list: &[Address]) -> String {
    list.iter()
        .filter_map(|a| {
            a.name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| a.email.clone())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The Flag element of an item (MS-ASEMAIL §2.2.2.27).
pub(crate) fn flag_element(flags: u32) -> Element {
    if flags & FLAGGED == 0 {
        return Element::new(Email::Flag);
    }
    Element::new(Email::Flag)
        .with_text(Email::Status, "2")
        .with_text(Email::FlagType, "Flag for follow up")
}

/// The properties that change (Sync's Change): read, flag, categories
/// (an empty Categories clears them).
pub(crate) fn change_data(entry: &MailboxEntry) -> Element {
    let flags = flags_of(entry);
    Element::new(AirSync::ApplicationData)
        .with_text(Email::Read, if flags & READ != 0 { "1" } else { "0" })
        .with(flag_element(flags))
        .with(categories_element(entry))
}

fn categories_element(entry: &MailboxEntry) -> Element {
    let mut c = Element::new(Email::Categories);
    for k in categories_of(entry) {
        c.push(Element::text(Email::Category, k));
    }
    c
}

/// Cuts `s` to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// All properties of an item, in an element with tag `container`. With
/// `opaque_mime`, a MIME body goes as opaque data (ItemOperations).
pub(crate) fn item_data(
    store: &Store,
    account: AccountId,
    mailbox: MailboxId,
    entry: &MailboxEntry,
    options: &BodyOptions,
    container: Tag,
    opaque_mime: bool,
) -> Result<Element> {
    let meta = store.email_meta(account, entry.email)?;
    let raw = store.email_raw(account, entry.email)?;
    let env = &meta.envelope;
    let mut e = Element::new(container);
    let to = addresses(&env.to);
    if !to.is_empty() {
        e.push(Element::text(Email::To, to));
    }
    let cc = addresses(&env.cc);
    if !cc.is_empty() {
        e.push(Element::text(Email::Cc, cc));
    }
    let from = addresses(&env.from);
    if !from.is_empty() {
        e.push(Element::text(Email::From, from));
    }
    let subject = env.subject.clone().unwrap_or_default();
    e.push(Element::text(Email::Subject, subject.clone()));
    let reply_to = addresses(&env.reply_to);
    if !reply_to.is_empty() {
        e.push(Element::text(Email::ReplyTo, reply_to));
    }
    e.push(Element::text(
        Email::DateReceived,
        date::iso(entry.received),
    ));
    e.push(Element::text(Email::DisplayTo, display_names(&env.to)));
    e.push(Element::text(Email::ThreadTopic, subject));
    e.push(Element::text(Email::Importance, "1"));
    let flags = flags_of(entry);
    e.push(Element::text(
        Email::Read,
        if flags & READ != 0 { "1" } else { "0" },
    ));

    let parsed = MessageParser::default().parse(&raw);
    let smime = meta.body.media_type == "multipart" && meta.body.subtype == "signed"
        || meta.body.media_type == "application" && meta.body.subtype.contains("pkcs7-mime");
    let pref = options.choose(smime);
    let (data, kind): (Vec<u8>, u8) = match (pref.kind, &parsed) {
        (MIME, _) => (raw.clone(), MIME),
        (HTML, Some(m)) => (
            m.body_html(0).unwrap_or_default().into_owned().into_bytes(),
            HTML,
        ),
        (_, Some(m)) => (
            m.body_text(0).unwrap_or_default().into_owned().into_bytes(),
            PLAIN,
        ),
        (_, None) => (Vec::new(), PLAIN),
    };
    let size = data.len();
    let mut body = Element::new(AirSyncBase::Body)
        .with_text(AirSyncBase::Type, kind.to_string())
        .with_text(AirSyncBase::EstimatedDataSize, size.to_string());
    let limit = pref.truncation.filter(|&t| size > t);
    match limit {
        Some(_) if pref.all_or_none => {
            body.push(Element::text(AirSyncBase::Truncated, "1"));
        }
        Some(t) => {
            body.push(Element::text(AirSyncBase::Truncated, "1"));
            let text = String::from_utf8_lossy(&data);
            body.push(Element::text(AirSyncBase::Data, cut(&text, t).to_string()));
        }
        // A message that is not UTF-8 (8-bit in another charset) goes as
        // opaque bytes, which keep it exact; a WBXML string could not.
        None if kind == MIME && (opaque_mime || std::str::from_utf8(&data).is_err()) => {
            body.push(Element::opaque(AirSyncBase::Data, data));
        }
        None => {
            body.push(Element::text(
                AirSyncBase::Data,
                String::from_utf8_lossy(&data).into_owned(),
            ));
        }
    }
    if let Some(n) = pref.preview {
        body.push(Element::text(
            AirSyncBase::Preview,
            cut(&meta.preview, n.min(255)).to_string(),
        ));
    }
    e.push(body);

    if let Some(m) = &parsed {
        let mut atts = Element::new(AirSyncBase::Attachments);
        for (i, part) in m.attachments().enumerate() {
            let name = part
                .attachment_name()
                .map_or_else(|| format!("attachment-{}", i + 1), str::to_string);
            let mut a = Element::new(AirSyncBase::Attachment)
                .with_text(AirSyncBase::DisplayName, name)
                .with_text(
                    AirSyncBase::FileReference,
                    format!("{}:{}:{i}", mailbox.0, entry.uid.0),
                )
                .with_text(AirSyncBase::Method, "1")
                .with_text(
                    AirSyncBase::EstimatedDataSize,
                    part.contents().len().to_string(),
                );
            if let Some(cid) = part.content_id() {
                a.push(Element::text(AirSyncBase::ContentId, cid.to_string()));
            }
            if part.content_disposition().is_some_and(|d| d.is_inline()) {
                a.push(Element::text(AirSyncBase::IsInline, "1"));
            }
            atts.push(a);
        }
        if !atts.children.is_empty() {
            e.push(atts);
        }
    }
    e.push(Element::text(Email::MessageClass, "IPM.Note"));
    e.push(Element::text(Email::InternetCPID, "65001"));
    e.push(flag_element(flags));
    e.push(Element::text(
        Email::ContentClass,
        "urn:content-classes:message",
    ));
    let native = if meta.body.subtype == "html" {
        HTML
    } else {
        PLAIN
    };
    e.push(Element::text(
        AirSyncBase::NativeBodyType,
        native.to_string(),
    ));
    // The thread (MS-ASEMAIL §2.2.2.14 ConversationId: 16 opaque bytes):
    // the account's thread id, so a phone groups what IMAP's THREADID and
    // JMAP's threadId group.
    let mut conversation = [0u8; 16];
    conversation[..8].copy_from_slice(b"tidings\0");
    conversation[8..].copy_from_slice(&entry.thread.0.to_be_bytes());
    e.push(Element::opaque(
        Email2::ConversationId,
        conversation.to_vec(),
    ));
    if !categories_of(entry).is_empty() {
        e.push(categories_element(entry));
    }
    Ok(e)
}

/// An attachment by FileReference (`mailbox:uid:index`): its content
/// type and decoded bytes.
pub(crate) fn attachment(
    store: &Store,
    account: AccountId,
    reference: &str,
) -> Result<Option<(String, Vec<u8>)>> {
    let mut parts = reference.splitn(3, ':');
    let (Some(m), Some(u), Some(i)) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (Ok(m), Ok(u), Ok(i)) = (m.parse::<i64>(), u.parse::<u32>(), i.parse::<usize>()) else {
        return Ok(None);
    };
    let Some(mb) = store.mailboxes(account)?.into_iter().find(|x| x.id.0 == m) else {
        return Ok(None);
    };
    let Some(entry) = store.mailbox_entry(account, mb.id, tidings_types::Uid(u))? else {
        return Ok(None);
    };
    let raw = store.email_raw(account, entry.email)?;
    let Some(msg) = MessageParser::default().parse(&raw) else {
        return Ok(None);
    };
    let Some(part) = msg.attachments().nth(i) else {
        return Ok(None);
    };
    let ctype = part.content_type().map_or_else(
        || "application/octet-stream".to_string(),
        |c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream")),
    );
    Ok(Some((ctype, part.contents().to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_cuts() {
        assert_eq!(server_id(MailboxId(5), 7), "5:7");
        assert_eq!(parse_server_id("5:7"), Some((5, 7)));
        assert_eq!(parse_server_id("5"), None);
        assert_eq!(cut("grüße", 3), "gr");
        assert_eq!(cut("abc", 10), "abc");
    }
}
