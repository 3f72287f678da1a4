//! NOTIFY (RFC 5465): unsolicited responses for the mailboxes and events
//! the client names, sent whenever the session is between commands, not
//! only during IDLE (§4).
//!
//! Implementation notes:
//! - The events come from the store's change events (`Store::subscribe`),
//!   the same stream that wakes IDLE. The connection loop waits on the
//!   socket and on that stream together while the client is between
//!   commands (`Framer::between_commands`) and NOTIFY is on, and hands each
//!   event to [`Session::notify_event`]; events seen while a command runs
//!   are noted and reported before its tagged reply.
//! - Mailboxes other than the selected one: the session keeps what it last
//!   knew of each mailbox of the account ([`Known`]: name, subscription,
//!   UIDNEXT, counters, HIGHESTMODSEQ) and, after an event, reads the
//!   mailbox list and the counters of the mailboxes the event touched in
//!   one store call, and reports the difference: `STATUS (MESSAGES UIDNEXT
//!   UNSEEN)` for MessageNew/MessageExpunge (§5.1, §5.2), `STATUS (UNSEEN)`
//!   for FlagChange (§5.3), with `HIGHESTMODSEQ` once CONDSTORE is on;
//!   `LIST` for MailboxName (created; `\NonExistent` when deleted; with
//!   `OLDNAME` when renamed, §5.4) and SubscriptionChange (§5.5, with
//!   `\Subscribed` when subscribed). A lost stretch of events (the
//!   session fell behind the store's event channel) costs one more read,
//!   not a lost notification: the diff is against what the client was
//!   told, not against the events. Changes by another process (`tidings
//!   deliver`) raise no event here: between commands the connection loop
//!   polls after [`crate::ImapConfig::idle_poll`] of quiet
//!   ([`Session::notify_poll`]), which reads counters only where a
//!   mailbox's HIGHESTMODSEQ moved.
//! - The selected mailbox (`selected`, `selected-delayed`): EXISTS,
//!   EXPUNGE (or VANISHED) and, with FlagChange, FETCH FLAGS, from the same
//!   view update as after a command ([`crate::view`]); without FlagChange
//!   flag changes wait for the next command. `selected-delayed` holds
//!   expunges until a command that allows them (§6). MessageNew's fetch
//!   attributes are sent as a UID FETCH of the new messages, in batches;
//!   `BODY[...]`, `BINARY[...]`, `RFC822` and `RFC822.TEXT` are fetched as
//!   their PEEK forms: a notification does not set `\Seen`. The selected
//!   mailbox never gets STATUS (§5.1).
//! - Refused: `selected` twice, MessageNew without MessageExpunge (or the
//!   reverse) or FlagChange without both for the selected mailbox, and fetch
//!   attributes for other mailboxes are BAD (as Dovecot answers);
//!   AnnotationChange, MailboxMetadataChange, ServerMetadataChange and
//!   unknown events are `NO [BADEVENT (...)]` naming them (§5, as
//!   Dovecot: no ANNOTATE here, and METADATA changes raise no store event).
//!   More than [`MAX_NOTIFY_NAMES`] mailbox names is `NO
//!   [NOTIFICATIONOVERFLOW]`.
//! - Bounded: the session keeps one [`Known`] per mailbox of the account;
//!   one round of notifications for other mailboxes that would exceed
//!   [`MAX_NOTIFY_ROUND`] bytes is dropped for `* OK
//!   [NOTIFICATIONOVERFLOW]`, and NOTIFY is then off as after NOTIFY NONE
//!   (§5.8); the client sets it again (with STATUS) to resynchronize.

use std::collections::{BTreeSet, HashMap};

use tidings_imap_proto::{
    Code, Data, Fetch, FetchAttribute, FetchItems, ListItem, NotifyEvent, NotifyFilter, NotifySet,
    SequenceSet, Status, StatusValue, Tag,
};
use tidings_store::{ChangeEvent, Mailbox};
use tidings_types::{MailboxId, MailboxName, MailboxRole};
use tokio::sync::broadcast;

use crate::session::{Outcome, Pending, Session, State, store_error};

/// Mailbox names a NOTIFY may give in `subtree` and `mailboxes` filters
/// together (Dovecot allows 100 per namespace); more is `NO
/// [NOTIFICATIONOVERFLOW]`.
pub const MAX_NOTIFY_NAMES: usize = 100;

/// Bytes of notifications for other mailboxes one round may produce
/// (about 10,000 STATUS lines); beyond, `* OK [NOTIFICATIONOVERFLOW]` and
/// NOTIFY is off (RFC 5465 §5.8).
pub const MAX_NOTIFY_ROUND: usize = 1024 * 1024;

/// The events a group asks for, as the server serves them.
#[derive(Clone, Copy, Debug, Default)]
struct Events {
    new: bool,
    expunge: bool,
    flags: bool,
    names: bool,
    subscriptions: bool,
}

impl Events {
    fn messages(self) -> bool {
        self.new || self.expunge || self.flags
    }

    fn union(self, o: Events) -> Events {
        Events {
            new: self.new || o.new,
            expunge: self.expunge || o.expunge,
            flags: self.flags || o.flags,
            names: self.names || o.names,
            subscriptions: self.subscriptions || o.subscriptions,
        }
    }
}

/// Which mailboxes a group names (not the selected-mailbox filters).
#[derive(Clone, Debug)]
enum Filter {
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

impl Filter {
    fn matches(&self, m: &Known) -> bool {
        let name = m.name.as_str();
        match self {
            // RFC 5465 §6: mailboxes where mail is delivered: INBOX here.
            Filter::Inboxes => m.role == Some(MailboxRole::Inbox),
            Filter::Personal => true,
            Filter::Subscribed => m.subscribed,
            Filter::Subtree(names) => names.iter().any(|n| {
                name == n
                    || (name.len() > n.len()
                        && name.starts_with(n.as_str())
                        && name[n.len()..].starts_with(tidings_types::SEPARATOR))
            }),
            Filter::Mailboxes(names) => names.iter().any(|n| name == n),
        }
    }
}

/// What the client was last told of one mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Known {
    name: MailboxName,
    role: Option<MailboxRole>,
    subscribed: bool,
    uid_next: u32,
    modseq: u64,
    /// `(messages, unseen)`; `None` until read.
    counts: Option<(u32, u32)>,
}

impl Known {
    fn of(m: &Mailbox, counts: Option<(u32, u32)>) -> Known {
        Known {
            name: m.name.clone(),
            role: m.role,
            subscribed: m.subscribed,
            uid_next: m.uid_next.0,
            modseq: m.highest_modseq.0,
            counts,
        }
    }
}

/// The selected mailbox's events.
#[derive(Clone, Debug)]
pub(crate) struct SelectedEvents {
    /// `selected-delayed`.
    pub(crate) delayed: bool,
    pub(crate) flags: bool,
    /// MessageNew's fetch attributes (PEEK forms).
    fetch: Vec<FetchAttribute>,
}

/// A session's NOTIFY state.
#[derive(Debug)]
pub(crate) struct Notify {
    /// `None`: no events for the selected mailbox (`selected NONE`, or no
    /// selected filter), as in IMAP without NOTIFY.
    pub(crate) selected: Option<SelectedEvents>,
    groups: Vec<(Filter, Events)>,
    known: HashMap<MailboxId, Known>,
    /// Mailboxes an event named since the last round.
    touched: BTreeSet<MailboxId>,
    /// An event for the account (or a lost stretch of events) since the
    /// last round.
    changed: bool,
    /// Events were lost: re-read every mailbox's counters.
    lagged: bool,
    /// [`MAX_NOTIFY_ROUND`] (smaller in tests).
    pub(crate) round_limit: usize,
    /// This round comes from the poll, not from an event.
    polling: bool,
}

impl Notify {
    fn events_for(&self, m: &Known) -> Events {
        self.groups
            .iter()
            .filter(|(f, _)| f.matches(m))
            .fold(Events::default(), |a, (_, e)| a.union(*e))
    }

    fn wants_list(&self) -> bool {
        self.groups.iter().any(|(_, e)| e.names || e.subscriptions)
    }

    /// Records an event for the next round.
    pub(crate) fn note(
        &mut self,
        ev: &Result<ChangeEvent, broadcast::error::RecvError>,
        account: tidings_types::AccountId,
    ) {
        match ev {
            Ok(ev) if ev.account == account => {
                self.changed = true;
                self.touched.extend(ev.mailboxes.iter().copied());
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                self.changed = true;
                self.lagged = true;
            }
            Err(broadcast::error::RecvError::Closed) => {}
        }
    }
}

/// The PEEK form of a fetch attribute that would set `\Seen`.
fn peek(a: FetchAttribute) -> FetchAttribute {
    use tidings_imap_proto::{Section, SectionText};
    match a {
        FetchAttribute::BodySection {
            section, partial, ..
        } => FetchAttribute::BodySection {
            peek: true,
            section,
            partial,
        },
        FetchAttribute::Binary { part, partial, .. } => FetchAttribute::Binary {
            peek: true,
            part,
            partial,
        },
        FetchAttribute::Rfc822 => FetchAttribute::BodySection {
            peek: true,
            section: Section::default(),
            partial: None,
        },
        FetchAttribute::Rfc822Text => FetchAttribute::BodySection {
            peek: true,
            section: Section {
                part: vec![],
                text: Some(SectionText::Text),
            },
            partial: None,
        },
        a => a,
    }
}

/// `INBOX` in any case is `INBOX` (RFC 9051 §5.1), also as the first level
/// of a name.
fn normalize(name: &str) -> String {
    let sep = tidings_types::SEPARATOR;
    let first = name.split(sep).next().unwrap_or(name);
    if first.eq_ignore_ascii_case("INBOX") {
        format!("INBOX{}", &name[first.len()..])
    } else {
        name.to_string()
    }
}

/// The parsed command as the session serves it, or its tagged refusal.
fn validate(tag: &Tag, set: NotifySet) -> Result<Notify, Status> {
    let mut selected: Option<Option<SelectedEvents>> = None;
    let mut groups = Vec::new();
    let mut unsupported: Vec<String> = Vec::new();
    let mut names = 0usize;
    for g in set.groups {
        let mut ev = Events::default();
        let mut fetch = Vec::new();
        for e in &g.events {
            match e {
                NotifyEvent::MessageNew(attrs) => {
                    ev.new = true;
                    if !attrs.is_empty() && !g.filter.is_selected() {
                        return Err(Status::bad(
                            tag,
                            "MessageNew fetch attributes are for the selected mailbox only",
                        ));
                    }
                    fetch.extend(attrs.iter().cloned().map(peek));
                }
                NotifyEvent::MessageExpunge => ev.expunge = true,
                NotifyEvent::FlagChange => ev.flags = true,
                NotifyEvent::MailboxName => ev.names = true,
                NotifyEvent::SubscriptionChange => ev.subscriptions = true,
                NotifyEvent::AnnotationChange
                | NotifyEvent::MailboxMetadataChange
                | NotifyEvent::ServerMetadataChange
                | NotifyEvent::Other(_) => {
                    let n = e.name().to_string();
                    if !unsupported.contains(&n) {
                        unsupported.push(n);
                    }
                }
            }
        }
        let annotation = g
            .events
            .iter()
            .any(|e| matches!(e, NotifyEvent::AnnotationChange));
        match g.filter {
            NotifyFilter::Selected | NotifyFilter::SelectedDelayed => {
                if selected.is_some() {
                    return Err(Status::bad(tag, "Duplicate selected filter"));
                }
                // RFC 5465 §5.1/§5.2: MessageNew and MessageExpunge go
                // together for the selected mailbox; FlagChange and
                // AnnotationChange need both (§5.3).
                if ev.new != ev.expunge {
                    return Err(Status::bad(
                        tag,
                        "MessageNew and MessageExpunge must be together",
                    ));
                }
                if (ev.flags || annotation) && !ev.expunge {
                    return Err(Status::bad(
                        tag,
                        "FlagChange requires MessageNew and MessageExpunge",
                    ));
                }
                let delayed = g.filter == NotifyFilter::SelectedDelayed;
                selected = Some(ev.new.then_some(SelectedEvents {
                    delayed,
                    flags: ev.flags,
                    fetch,
                }));
            }
            other => {
                let filter = match other {
                    NotifyFilter::Inboxes => Filter::Inboxes,
                    NotifyFilter::Personal => Filter::Personal,
                    NotifyFilter::Subscribed => Filter::Subscribed,
                    NotifyFilter::Subtree(n) => {
                        names += n.len();
                        Filter::Subtree(n.iter().map(|n| normalize(n)).collect())
                    }
                    NotifyFilter::Mailboxes(n) => {
                        names += n.len();
                        Filter::Mailboxes(n.iter().map(|n| normalize(n)).collect())
                    }
                    NotifyFilter::Selected | NotifyFilter::SelectedDelayed => continue,
                };
                groups.push((filter, ev));
            }
        }
    }
    if !unsupported.is_empty() {
        return Err(
            Status::no(tag, "Unsupported NOTIFY events").with_code(Code::BadEvent(unsupported))
        );
    }
    if names > MAX_NOTIFY_NAMES {
        return Err(Status::no(tag, "Too many mailbox names").with_code(Code::NotificationOverflow));
    }
    Ok(Notify {
        selected: selected.flatten(),
        groups,
        known: HashMap::new(),
        touched: BTreeSet::new(),
        changed: false,
        lagged: false,
        round_limit: MAX_NOTIFY_ROUND,
        polling: false,
    })
}

/// `\HasChildren` or `\HasNoChildren` of `name` among `all`.
fn children_attribute<'a>(name: &str, mut all: impl Iterator<Item = &'a Known>) -> String {
    let has = all.any(|k| {
        let n = k.name.as_str();
        n.len() > name.len()
            && n.starts_with(name)
            && n[name.len()..].starts_with(tidings_types::SEPARATOR)
    });
    if has {
        "\\HasChildren"
    } else {
        "\\HasNoChildren"
    }
    .to_string()
}

fn list(attributes: Vec<String>, name: &str, old_name: Option<&str>) -> Data {
    Data::List(ListItem {
        attributes,
        delimiter: Some(tidings_types::SEPARATOR),
        mailbox: name.to_string(),
        child_info: vec![],
        old_name: old_name.map(str::to_string),
    })
}

impl Session {
    /// NOTIFY NONE / NOTIFY SET (RFC 5465 §3).
    pub(crate) async fn notify(&mut self, tag: &Tag, set: Option<NotifySet>) -> Status {
        let Some(account) = self.account() else {
            return Status::bad(tag, "Not authenticated");
        };
        let Some(set) = set else {
            // §3.2: no more unsolicited responses beyond IMAP's own.
            self.notify = None;
            return Status::ok(tag, "NOTIFY completed");
        };
        let send_status = set.status;
        let mut notify = match validate(tag, set) {
            Ok(n) => n,
            Err(status) => return status,
        };
        let read = self
            .call(move |s| {
                let mut out = Vec::new();
                for m in s.mailboxes(account)? {
                    let c = s.mailbox_counts(account, m.id)?;
                    out.push((m, (c.messages, c.unseen)));
                }
                Ok(out)
            })
            .await;
        let mailboxes = match read {
            Ok(m) => m,
            Err(e) => return store_error(tag, &e),
        };
        let selected = self.view().map(|(_, v)| v.mailbox);
        let modseq_asked = notify.groups.iter().any(|(_, e)| e.flags);
        let mut statuses = Vec::new();
        for (m, counts) in &mailboxes {
            let known = Known::of(m, Some(*counts));
            // §3.1: with the STATUS indicator, a STATUS for every mailbox
            // the message events name, except the selected one.
            if send_status && Some(m.id) != selected && notify.events_for(&known).messages() {
                let mut items = vec![
                    StatusValue::Messages(counts.0),
                    StatusValue::UidNext(m.uid_next.0),
                    StatusValue::UidValidity(m.uid_validity.0),
                    StatusValue::Unseen(counts.1),
                ];
                if modseq_asked {
                    items.push(StatusValue::HighestModSeq(m.highest_modseq.0));
                }
                statuses.push((m.name.clone(), items));
            }
            notify.known.insert(m.id, known);
        }
        statuses.sort_by(|a, b| (!a.0.is_inbox(), &a.0).cmp(&(!b.0.is_inbox(), &b.0)));
        for (name, items) in statuses {
            self.put(Data::Status {
                mailbox: name.as_str().to_string(),
                items,
            });
        }
        self.notify = Some(Box::new(notify));
        Status::ok(tag, "NOTIFY completed")
    }

    /// Whether NOTIFY is on: the connection loop then waits for change
    /// events between commands too.
    pub(crate) fn notify_active(&self) -> bool {
        self.notify.is_some()
    }

    /// A change event that arrived between commands: the notifications it
    /// causes. [`Outcome::More`] when a FETCH for new messages has more
    /// batches ([`Session::resume`]).
    pub(crate) async fn notify_event(
        &mut self,
        ev: Result<ChangeEvent, broadcast::error::RecvError>,
    ) -> Outcome {
        self.note_event(&ev);
        let outcome = self.notify_selected().await;
        self.notify_others().await;
        outcome
    }

    /// Records an event taken off the stream outside `Session::sync`: the
    /// selected mailbox becomes dirty, NOTIFY notes it.
    pub(crate) fn note_event(&mut self, ev: &Result<ChangeEvent, broadcast::error::RecvError>) {
        let Some(account) = self.account() else {
            return;
        };
        if let Some(n) = self.notify.as_mut() {
            n.note(ev, account);
        }
        match (ev, &mut self.state) {
            // A shared mailbox changes under its owner's events.
            (Ok(ev), State::Selected { view, dirty, .. })
                if ev.account == view.owner && ev.mailboxes.contains(&view.mailbox) =>
            {
                *dirty = true;
            }
            (Err(broadcast::error::RecvError::Lagged(_)), State::Selected { dirty, .. }) => {
                *dirty = true;
            }
            (Err(broadcast::error::RecvError::Closed), _) => self.events = None,
            _ => {}
        }
    }

    /// The poll interval passed between commands with NOTIFY on
    /// ([`crate::ImapConfig::idle_poll`], as in IDLE): changes no event
    /// announced (another process, e.g. `tidings deliver`) are looked for
    /// in the store and reported.
    pub(crate) async fn notify_poll(&mut self) -> Outcome {
        let Some(n) = self.notify.as_mut() else {
            return Outcome::Continue;
        };
        // One read of the mailbox list; counters only where HIGHESTMODSEQ
        // moved.
        n.changed = true;
        if let crate::session::State::Selected { dirty, .. } = &mut self.state {
            *dirty = true;
        }
        let outcome = self.notify_selected().await;
        self.notify_others_all().await;
        outcome
    }

    /// [`Session::notify_others`] without the early exit for events that
    /// touched nothing watched.
    async fn notify_others_all(&mut self) {
        if let Some(n) = self.notify.as_mut() {
            if n.groups.is_empty() {
                return;
            }
            n.changed = true;
            n.polling = true;
        }
        self.notify_others().await;
    }

    /// The selected mailbox's notifications (RFC 5465 §5.1–§5.3, §6).
    pub(crate) async fn notify_selected(&mut self) -> Outcome {
        let Some(events) = self.notify.as_ref().and_then(|n| n.selected.clone()) else {
            return Outcome::Continue;
        };
        let Some((_, view)) = self.view() else {
            return Outcome::Continue;
        };
        let max_before = view.max_uid();
        self.sync_reporting(!events.delayed, false, events.flags)
            .await;
        if events.fetch.is_empty() {
            return Outcome::Continue;
        }
        let Some((_, view)) = self.view() else {
            return Outcome::Continue;
        };
        let new: Vec<u32> = view
            .entries
            .iter()
            .rev()
            .take_while(|e| e.uid.0 > max_before)
            .map(|e| e.uid.0)
            .collect();
        let Some(set) = SequenceSet::compact(new) else {
            return Outcome::Continue;
        };
        // §5.1: the new messages' attributes, as a UID FETCH would send
        // them; its tagged reply is not sent.
        let fetch = Fetch {
            uid: true,
            set,
            items: FetchItems::Attributes(events.fetch),
            changed_since: None,
            vanished: false,
            partial: None,
        };
        let Ok(tag) = Tag::new("NOTIFY") else {
            return Outcome::Continue;
        };
        match self.fetch(&tag, fetch).await {
            Ok(job) => {
                self.pending = Some(Pending {
                    job: crate::session::Job::Fetch(Box::new(job)),
                    allow_expunge: false,
                    unsolicited: true,
                });
                self.resume().await
            }
            Err(_) => Outcome::Continue,
        }
    }

    /// Notifications for the mailboxes other than the selected one (RFC
    /// 5465 §5.1–§5.5) since the last round; see the module notes.
    pub(crate) async fn notify_others(&mut self) {
        let Some(account) = self.account() else {
            return;
        };
        let Some(n) = self.notify.as_mut() else {
            return;
        };
        if !n.changed {
            return;
        }
        n.changed = false;
        let touched = std::mem::take(&mut n.touched);
        let lagged = std::mem::take(&mut n.lagged);
        let wants_list = n.wants_list();
        // Nothing to read for events that touched no mailbox the client
        // watches for message events (and no list events asked).
        let polling = std::mem::take(&mut n.polling);
        let watched = |id: &MailboxId| n.known.get(id).is_some_and(|k| n.events_for(k).messages());
        if !polling && !wants_list && !lagged && !touched.iter().any(watched) {
            return;
        }
        // Counters are read for the mailboxes an event touched (all of
        // them after lost events) and those whose HIGHESTMODSEQ moved
        // since the client was told (a change no event announced: another
        // process, found by the poll).
        let seen: HashMap<MailboxId, u64> = n.known.iter().map(|(id, k)| (*id, k.modseq)).collect();
        let read = self
            .call(move |s| {
                let mut out = Vec::new();
                for m in s.mailboxes(account)? {
                    let moved = seen.get(&m.id).is_some_and(|&ms| ms != m.highest_modseq.0);
                    let counts = if lagged || moved || touched.contains(&m.id) {
                        let c = s.mailbox_counts(account, m.id)?;
                        Some((c.messages, c.unseen))
                    } else {
                        None
                    };
                    out.push((m, counts));
                }
                Ok(out)
            })
            .await;
        let mailboxes = match read {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("notify: {e}");
                if let Some(n) = self.notify.as_mut() {
                    // Try again with the next event.
                    n.changed = true;
                    n.lagged = true;
                }
                return;
            }
        };
        let selected = self.view().map(|(_, v)| v.mailbox);
        let condstore = self.enabled.condstore;
        let Some(n) = self.notify.as_mut() else {
            return;
        };
        let mut now: HashMap<MailboxId, Known> = HashMap::with_capacity(mailboxes.len());
        for (m, counts) in &mailboxes {
            let counts = counts.or_else(|| n.known.get(&m.id).and_then(|k| k.counts));
            now.insert(m.id, Known::of(m, counts));
        }
        let mut order: Vec<&Mailbox> = mailboxes.iter().map(|(m, _)| m).collect();
        order.sort_by(|a, b| (!a.name.is_inbox(), &a.name).cmp(&(!b.name.is_inbox(), &b.name)));
        let mut out: Vec<Data> = Vec::new();
        if wants_list {
            for m in &order {
                let Some(new) = now.get(&m.id) else { continue };
                let ev = n.events_for(new);
                match n.known.get(&m.id) {
                    None if ev.names => out.push(list(
                        vec![children_attribute(new.name.as_str(), now.values())],
                        new.name.as_str(),
                        None,
                    )),
                    None => {}
                    Some(old) => {
                        let ev = ev.union(n.events_for(old));
                        if old.name != new.name && ev.names {
                            out.push(list(
                                vec![children_attribute(new.name.as_str(), now.values())],
                                new.name.as_str(),
                                Some(old.name.as_str()),
                            ));
                        }
                        if old.subscribed != new.subscribed && ev.subscriptions {
                            let mut attributes =
                                vec![children_attribute(new.name.as_str(), now.values())];
                            if new.subscribed {
                                attributes.push("\\Subscribed".into());
                            }
                            out.push(list(attributes, new.name.as_str(), None));
                        }
                    }
                }
            }
            let mut gone: Vec<&Known> = n
                .known
                .iter()
                .filter(|(id, _)| !now.contains_key(id))
                .map(|(_, k)| k)
                .filter(|k| n.events_for(k).names)
                .collect();
            gone.sort_by(|a, b| a.name.cmp(&b.name));
            for k in gone {
                out.push(list(vec!["\\NonExistent".into()], k.name.as_str(), None));
            }
        }
        for m in &order {
            if Some(m.id) == selected {
                continue;
            }
            let (Some(old), Some(new)) = (n.known.get(&m.id), now.get(&m.id)) else {
                continue;
            };
            let ev = n.events_for(new);
            let (Some((messages, unseen)), Some((old_messages, old_unseen))) =
                (new.counts, old.counts)
            else {
                continue;
            };
            let mut items = Vec::new();
            let moved = messages != old_messages || new.uid_next != old.uid_next;
            if moved && (ev.new || ev.expunge) {
                items.extend([
                    StatusValue::Messages(messages),
                    StatusValue::UidNext(new.uid_next),
                    StatusValue::Unseen(unseen),
                ]);
            } else if unseen != old_unseen && ev.flags {
                items.push(StatusValue::Unseen(unseen));
            }
            let modseq_moved = new.modseq != old.modseq && ev.flags;
            if condstore && (!items.is_empty() || modseq_moved) {
                items.push(StatusValue::HighestModSeq(new.modseq));
            }
            if !items.is_empty() {
                out.push(Data::Status {
                    mailbox: new.name.as_str().to_string(),
                    items,
                });
            }
        }
        n.known = now;
        let limit = n.round_limit;
        let start = self.out.len();
        for d in out {
            self.put(d);
            if self.out.len() - start > limit {
                // §5.8: too much to tell; the client starts again.
                self.out.truncate(start);
                self.notify = None;
                self.put(
                    Status::untagged_ok("Too many notifications; NOTIFY is off")
                        .with_code(Code::NotificationOverflow),
                );
                return;
            }
        }
    }
}
