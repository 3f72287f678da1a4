//! Gmail's IMAP extension X-GM-EXT-1 over Tidings' label model: the
//! mailboxes an email is in are its labels (docs/design.md, "folders are
//! labels"), so X-GM-LABELS is that set and STORE X-GM-LABELS adds or
//! removes mailboxes.
//!
//! Decisions (Gmail documents the extension, not every corner):
//! - Role mailboxes appear as Gmail's system labels: INBOX `\Inbox`, Sent
//!   `\Sent`, Drafts `\Draft`, Starred `\Starred`, Junk `\Spam`, Trash
//!   `\Trash`. All Mail is not a label (every email not in Trash or Junk is
//!   there). Other mailboxes appear by name.
//! - X-GM-RAW understands `label:` / `in:`, `is:unread|read|starred`,
//!   `from:`, `to:`, `cc:`, `subject:`, `has:attachment`, and free words
//!   (full-text index); terms are ANDed, `-term` negates, double quotes
//!   group words.

use tidings_store::Mailbox;
use tidings_types::MailboxRole;

/// The label a mailbox shows as, or `None` for All Mail.
pub fn label_of(m: &Mailbox) -> Option<String> {
    Some(match m.role {
        Some(MailboxRole::Inbox) => "\\Inbox".into(),
        Some(MailboxRole::Sent) => "\\Sent".into(),
        Some(MailboxRole::Drafts) => "\\Draft".into(),
        Some(MailboxRole::Flagged) => "\\Starred".into(),
        Some(MailboxRole::Junk) => "\\Spam".into(),
        Some(MailboxRole::Trash) => "\\Trash".into(),
        Some(MailboxRole::All) => return None,
        Some(MailboxRole::Archive) | None => m.name.as_str().to_string(),
    })
}

/// Whether `label` (as a client wrote it) names `m`: its label, or its
/// name, case-insensitively for system labels and INBOX.
pub fn names(label: &str, m: &Mailbox) -> bool {
    let own = label_of(m);
    let bare = label.strip_prefix('\\').unwrap_or(label);
    own.as_deref()
        .is_some_and(|l| l == label || (l.starts_with('\\') && l[1..].eq_ignore_ascii_case(bare)))
        || m.name.as_str() == label
        || (m.name.is_inbox() && bare.eq_ignore_ascii_case("inbox"))
}

/// One X-GM-RAW term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawTerm {
    Label(String),
    Unread,
    Read,
    Starred,
    From(String),
    To(String),
    Cc(String),
    Subject(String),
    HasAttachment,
    Text(String),
    Not(Box<RawTerm>),
}

/// Splits an X-GM-RAW query into terms (ANDed).
pub fn parse_raw(q: &str) -> Vec<RawTerm> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in q.chars() {
        match ch {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words.into_iter().map(|w| term(&w)).collect()
}

fn term(w: &str) -> RawTerm {
    if let Some(rest) = w.strip_prefix('-').filter(|r| !r.is_empty()) {
        return RawTerm::Not(Box::new(term(rest)));
    }
    let Some((op, arg)) = w.split_once(':') else {
        return RawTerm::Text(w.to_string());
    };
    let arg = arg.to_string();
    match op.to_ascii_lowercase().as_str() {
        "label" | "in" => RawTerm::Label(arg),
        "is" => match arg.to_ascii_lowercase().as_str() {
            "unread" => RawTerm::Unread,
            "read" => RawTerm::Read,
            "starred" => RawTerm::Starred,
            _ => RawTerm::Text(w.to_string()),
        },
        "from" => RawTerm::From(arg),
        "to" => RawTerm::To(arg),
        "cc" => RawTerm::Cc(arg),
        "subject" => RawTerm::Subject(arg),
        "has" if arg.eq_ignore_ascii_case("attachment") => RawTerm::HasAttachment,
        _ => RawTerm::Text(w.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_queries_split_into_terms() {
        assert_eq!(
            parse_raw(r#"from:ann label:Work -is:read "quarterly report" has:attachment"#),
            vec![
                RawTerm::From("ann".into()),
                RawTerm::Label("Work".into()),
                RawTerm::Not(Box::new(RawTerm::Read)),
                RawTerm::Text("quarterly report".into()),
                RawTerm::HasAttachment,
            ]
        );
    }
}
