//! Sync (MS-ASCMD §2.2.1.21) and GetItemEstimate (§2.2.1.9) of mail
//! collections, over the per-device state of [`crate::state`].
//!
//! Implementation notes:
//! - A Sync first applies the device's commands (read flag, follow-up
//!   flag, delete: moved to Trash unless `DeletesAsMoves` is 0 or the
//!   collection is Trash), recording their result in the device's
//!   state so they are not echoed back, then sends what differs between
//!   the mailbox and that state: deletes, flag changes, then new items
//!   newest first, at most `WindowSize` of them, with `MoreAvailable`.
//! - One answer adds messages of at most 16 MiB together (by their stored
//!   size; at least one), so a window of large messages is not held
//!   whole: `MoreAvailable` brings the rest.
//! - FilterType limits the items to those received in the window; items
//!   that fall out of it are deleted from the device.
//! - A Sync Add (a draft made on the device) is taken into Drafts only,
//!   as a MIME body; elsewhere it gets status 6.

use std::collections::BTreeMap;

use tidings_eas_proto::Element;
use tidings_eas_proto::tags::{AirSync, AirSyncBase, Email, GetItemEstimate as Est};
use tidings_store::{FlagOp, MailboxEntry, Store, StoreError};
use tidings_types::{AccountId, Keyword, MailboxId, MailboxRole, Uid};

use crate::items::{self, BodyOptions};
use crate::state::{self, CollectionState};
use crate::{Ctx, Error, Reply, Result, blocking, date, folders};

// Sync status codes (MS-ASCMD §2.2.3.177.17).
const BAD_KEY: u32 = 3;
const PROTOCOL_ERROR: u32 = 4;
const CLIENT_ERROR: u32 = 6;
const NOT_FOUND: u32 = 8;
const HIERARCHY_CHANGED: u32 = 12;

pub(crate) const DEFAULT_WINDOW: usize = 100;
/// The most message bytes (by their stored size) one Sync answer adds.
pub(crate) const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
pub(crate) const MAX_WINDOW: usize = 512;

/// Seconds back from now of a FilterType (MS-ASCMD §2.2.3.68.2).
fn filter_seconds(filter: u8) -> Option<i64> {
    let day = 86_400;
    match filter {
        1 => Some(day),
        2 => Some(3 * day),
        3 => Some(7 * day),
        4 => Some(14 * day),
        5 => Some(31 * day),
        6 => Some(92 * day),
        7 => Some(183 * day),
        _ => None,
    }
}

/// The entries a device should hold now: not `\Deleted`, inside the filter.
fn visible(
    store: &Store,
    account: AccountId,
    mailbox: MailboxId,
    filter: u8,
) -> Result<BTreeMap<u32, MailboxEntry>> {
    let cutoff = filter_seconds(filter).map(|s| date::now() - s);
    Ok(store
        .mailbox_entries(account, mailbox)?
        .into_iter()
        .filter(|e| !e.deleted && cutoff.is_none_or(|c| e.received >= c))
        .map(|e| (e.uid.0, e))
        .collect())
}

/// What differs between the mailbox and what the device holds.
#[derive(Default)]
struct Diff {
    deleted: Vec<u32>,
    changed: Vec<(u32, u32)>,
    /// Newest first.
    added: Vec<u32>,
}

impl Diff {
    fn len(&self) -> usize {
        self.deleted.len() + self.changed.len() + self.added.len()
    }
}

fn diff(now: &BTreeMap<u32, MailboxEntry>, held: &BTreeMap<u32, u32>) -> Diff {
    let mut d = Diff::default();
    for (uid, flags) in held {
        match now.get(uid) {
            None => d.deleted.push(*uid),
            Some(e) if items::flags_of(e) != *flags => d.changed.push((*uid, items::flags_of(e))),
            Some(_) => {}
        }
    }
    let mut added: Vec<&MailboxEntry> = now
        .values()
        .filter(|e| !held.contains_key(&e.uid.0))
        .collect();
    added.sort_by(|a, b| b.received.cmp(&a.received).then(b.uid.cmp(&a.uid)));
    d.added = added.into_iter().map(|e| e.uid.0).collect();
    d
}

/// The state at `key` if it is the current or the previous key; the
/// state returned is positioned at that key.
fn state_at(st: Option<CollectionState>, key: &str) -> Result<CollectionState> {
    let (nonce, n) = state::parse_key(key).ok_or(Error::Status(BAD_KEY))?;
    match st {
        Some(st) if st.nonce == nonce && st.key == n => Ok(st),
        Some(st) if st.nonce == nonce && st.prev_key == n && n > 0 => Ok(CollectionState {
            key: st.prev_key,
            items: st.prev_items.clone(),
            ..st
        }),
        _ => Err(Error::Status(BAD_KEY)),
    }
}

/// The number of changes waiting for a device in a collection (Ping,
/// GetItemEstimate): `None` when it has no state there.
pub(crate) fn pending(
    store: &Store,
    account: AccountId,
    device: &str,
    collection: &str,
) -> Result<Option<usize>> {
    let Some(st) = state::load::<CollectionState>(store, account, device, collection)? else {
        return Ok(None);
    };
    let Some(m) = folders::mailbox(store, account, collection)? else {
        return Ok(Some(0));
    };
    Ok(Some(
        diff(&visible(store, account, m.id, st.filter)?, &st.items).len(),
    ))
}

pub(crate) async fn sync(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let Some(collections) = body.child(AirSync::Collections) else {
        // An empty Sync (MS-ASCMD §2.2.3.30.2) asks to repeat the last
        // request; without a cached request the client must send it whole.
        return Err(Error::Status(13));
    };
    let window_all = body
        .child_text(AirSync::WindowSize)
        .and_then(|w| w.parse::<usize>().ok());
    let mut out = Element::new(AirSync::Collections);
    for c in collections.children_with(AirSync::Collection) {
        let (store, account, device, c2) = (
            ctx.store.clone(),
            ctx.account,
            ctx.device.device_id.clone(),
            c.clone(),
        );
        let result =
            blocking(move || sync_collection(&store, account, &device, &c2, window_all)).await;
        let id = c.child_text(AirSync::CollectionId).unwrap_or_default();
        match result {
            Ok(e) => out.push(e),
            Err(Error::Status(s)) => {
                let mut e = Element::new(AirSync::Collection);
                if let Some(k) = c.child_text(AirSync::SyncKey) {
                    e.push(Element::text(AirSync::SyncKey, k));
                }
                out.push(
                    e.with_text(AirSync::CollectionId, id)
                        .with_text(AirSync::Status, s.to_string()),
                );
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Reply::of(&Element::new(AirSync::Sync).with(out)))
}

fn sync_collection(
    store: &Store,
    account: AccountId,
    device: &str,
    c: &Element,
    window_all: Option<usize>,
) -> Result<Element> {
    let key = c
        .child_text(AirSync::SyncKey)
        .ok_or(Error::Status(PROTOCOL_ERROR))?;
    let id = c
        .child_text(AirSync::CollectionId)
        .ok_or(Error::Status(PROTOCOL_ERROR))?;
    let mailbox = folders::mailbox(store, account, &id)?;
    if mailbox.is_none() && id != folders::CONTACTS && id != folders::CALENDAR {
        return Err(Error::Status(HIERARCHY_CHANGED));
    }
    let options = c.child(AirSync::Options);
    let body_options = BodyOptions::from_options(options);
    let window = c
        .child_text(AirSync::WindowSize)
        .and_then(|w| w.parse::<usize>().ok())
        .or(window_all)
        .unwrap_or(DEFAULT_WINDOW)
        .clamp(1, MAX_WINDOW);
    let filter = options
        .and_then(|o| o.child_text(AirSync::FilterType))
        .and_then(|f| f.parse::<u8>().ok());

    let reply = |key: String| {
        Element::new(AirSync::Collection)
            .with_text(AirSync::SyncKey, key)
            .with_text(AirSync::CollectionId, id.clone())
            .with_text(AirSync::Status, "1")
    };

    // SyncKey 0: start over; no items in the answer (MS-ASCMD §2.2.3.166.4).
    if key == "0" {
        let st = CollectionState {
            nonce: state::fresh_nonce(),
            key: 1,
            filter: filter.unwrap_or(0),
            ..CollectionState::default()
        };
        state::save(store, account, device, &id, &st)?;
        return Ok(reply(state::format_key(st.nonce, st.key)));
    }
    let old: Option<CollectionState> = state::load(store, account, device, &id)?;
    let at = state_at(old, &key)?;
    let base = at.items.clone();
    let mut held = base.clone();
    let filter = filter.unwrap_or(at.filter);
    let Some(mb) = mailbox else {
        // Contacts, Calendar: always empty.
        return Ok(reply(key));
    };

    let mut responses = Element::new(AirSync::Responses);
    let mut fetches = Vec::new();
    let mut applied = false;
    if let Some(commands) = c.child(AirSync::Commands) {
        let deletes_as_moves = c.child_text(AirSync::DeletesAsMoves).as_deref() != Some("0");
        let trash = store.mailbox_by_role(account, MailboxRole::Trash)?;
        for cmd in commands.elements() {
            let sid = cmd.child_text(AirSync::ServerId).unwrap_or_default();
            let uid = items::parse_server_id(&sid)
                .filter(|(m, _)| *m == mb.id.0)
                .map(|(_, u)| u);
            let entry = match uid {
                Some(u) => store.mailbox_entry(account, mb.id, Uid(u))?,
                None => None,
            };
            if cmd.tag == AirSync::Add {
                let client = cmd.child_text(AirSync::ClientId).unwrap_or_default();
                let mut r = Element::new(AirSync::Add).with_text(AirSync::ClientId, client);
                match add_draft(store, account, &mb, cmd)? {
                    Some((uid, flags)) => {
                        r.push(Element::text(
                            AirSync::ServerId,
                            items::server_id(mb.id, uid),
                        ));
                        r.push(Element::text(AirSync::Status, "1"));
                        held.insert(uid, flags);
                        applied = true;
                    }
                    None => r.push(Element::text(AirSync::Status, CLIENT_ERROR.to_string())),
                }
                responses.push(r);
                continue;
            }
            let Some(entry) = entry else {
                if cmd.tag == AirSync::Change
                    || cmd.tag == AirSync::Delete
                    || cmd.tag == AirSync::Fetch
                {
                    responses.push(
                        Element::new(cmd.tag)
                            .with_text(AirSync::ServerId, sid)
                            .with_text(AirSync::Status, NOT_FOUND.to_string()),
                    );
                }
                continue;
            };
            let uid = entry.uid;
            if cmd.tag == AirSync::Change {
                let Some(data) = cmd.child(AirSync::ApplicationData) else {
                    continue;
                };
                if let Some(read) = data.child_text(Email::Read) {
                    flag(
                        store,
                        account,
                        mb.id,
                        uid,
                        Keyword::SEEN,
                        read.trim() == "1",
                    )?;
                }
                if let Some(f) = data.child(Email::Flag) {
                    let on = f.child_text(Email::Status).as_deref().map(str::trim) == Some("2");
                    flag(store, account, mb.id, uid, Keyword::FLAGGED, on)?;
                }
                if let Some(c) = data.child(Email::Categories) {
                    set_categories(store, account, mb.id, &entry, c)?;
                }
                // What the device now holds is what it set.
                let flags = store
                    .mailbox_entry(account, mb.id, uid)?
                    .map_or(items::flags_of(&entry), |e| items::flags_of(&e));
                held.insert(uid.0, flags);
                applied = true;
            } else if cmd.tag == AirSync::Delete {
                match &trash {
                    Some(t) if deletes_as_moves && t.id != mb.id => {
                        store.move_emails(account, mb.id, &[uid], t.id)?;
                    }
                    _ => {
                        let deleted = [Keyword::new(Keyword::DELETED)
                            .map_err(|_| Error::Status(PROTOCOL_ERROR))?];
                        store.store_flags(account, mb.id, &[uid], FlagOp::Add, &deleted, None)?;
                        store.expunge(account, mb.id, Some(&[uid]))?;
                    }
                }
                held.remove(&uid.0);
                applied = true;
            } else if cmd.tag == AirSync::Fetch {
                fetches.push(entry);
            }
        }
    }

    let get_changes = c.child_text(AirSync::GetChanges).as_deref() != Some("0");
    let mut commands = Element::new(AirSync::Commands);
    let mut more = false;
    if get_changes {
        let now = visible(store, account, mb.id, filter)?;
        let d = diff(&now, &held);
        more = d.len() > window;
        let mut room = window;
        for uid in d.deleted.iter().take(room) {
            commands.push(
                Element::new(AirSync::Delete)
                    .with_text(AirSync::ServerId, items::server_id(mb.id, *uid)),
            );
            held.remove(uid);
        }
        room = room.saturating_sub(d.deleted.len());
        for (uid, flags) in d.changed.iter().take(room) {
            let Some(entry) = now.get(uid) else {
                continue;
            };
            commands.push(
                Element::new(AirSync::Change)
                    .with_text(AirSync::ServerId, items::server_id(mb.id, *uid))
                    .with(items::change_data(entry)),
            );
            held.insert(*uid, *flags);
        }
        room = room.saturating_sub(d.changed.len());
        let mut bytes = 0u64;
        for (n, uid) in d.added.iter().take(room).enumerate() {
            let Some(entry) = now.get(uid) else { continue };
            // One answer carries at most MAX_RESPONSE_BYTES of messages
            // (at least one): the rest waits for the next window.
            bytes += entry.size;
            if n > 0 && bytes > MAX_RESPONSE_BYTES {
                more = true;
                break;
            }
            let data = match items::item_data(
                store,
                account,
                mb.id,
                entry,
                &body_options,
                AirSync::ApplicationData,
                false,
            ) {
                Ok(d) => d,
                // Destroyed meanwhile: the next Sync sees it gone.
                Err(Error::Store(StoreError::NotFound(_))) => continue,
                Err(e) => return Err(e),
            };
            commands.push(
                Element::new(AirSync::Add)
                    .with_text(AirSync::ServerId, items::server_id(mb.id, *uid))
                    .with(data),
            );
            held.insert(*uid, items::flags_of(entry));
        }
    }
    for entry in &fetches {
        let data = items::item_data(
            store,
            account,
            mb.id,
            entry,
            &body_options,
            AirSync::ApplicationData,
            false,
        )?;
        responses.push(
            Element::new(AirSync::Fetch)
                .with_text(AirSync::ServerId, items::server_id(mb.id, entry.uid.0))
                .with_text(AirSync::Status, "1")
                .with(data),
        );
    }

    let changed = applied
        || !commands.children.is_empty()
        || !responses.children.is_empty()
        || filter != at.filter;
    let new_key = if changed {
        let st = CollectionState {
            nonce: at.nonce,
            key: at.key + 1,
            items: held,
            prev_key: at.key,
            prev_items: base,
            filter,
        };
        state::save(store, account, device, &id, &st)?;
        st.key
    } else {
        at.key
    };
    let mut e = reply(state::format_key(at.nonce, new_key));
    if more {
        e.push(Element::new(AirSync::MoreAvailable));
    }
    if !commands.children.is_empty() {
        e.push(commands);
    }
    if !responses.children.is_empty() {
        e.push(responses);
    }
    Ok(e)
}

/// A draft made on the device (MS-ASCMD §2.2.3.7.2, 16.x): only into
/// Drafts, only as a MIME body; stored with `\Draft` and the read and
/// follow-up flags it came with. `None`: refused (status 6).
fn add_draft(
    store: &Store,
    account: AccountId,
    mailbox: &tidings_store::Mailbox,
    cmd: &Element,
) -> Result<Option<(u32, u32)>> {
    if mailbox.role != Some(MailboxRole::Drafts) {
        return Ok(None);
    }
    let Some(data) = cmd.child(AirSync::ApplicationData) else {
        return Ok(None);
    };
    let Some(body) = data.child(AirSyncBase::Body) else {
        return Ok(None);
    };
    if body.child_text(AirSyncBase::Type).as_deref().map(str::trim) != Some("4") {
        return Ok(None);
    }
    let Some(raw) = body.child(AirSyncBase::Data).and_then(Element::bytes) else {
        return Ok(None);
    };
    let mut keywords = vec![Keyword::DRAFT];
    if data.child_text(Email::Read).as_deref().map(str::trim) == Some("1") {
        keywords.push(Keyword::SEEN);
    }
    if data
        .child(Email::Flag)
        .and_then(|f| f.child_text(Email::Status))
        .as_deref()
        .map(str::trim)
        == Some("2")
    {
        keywords.push(Keyword::FLAGGED);
    }
    let keywords = keywords
        .into_iter()
        .filter_map(|k| Keyword::new(k).ok())
        .collect();
    let appended = store.append(
        account,
        mailbox.id,
        tidings_store::NewEmail {
            raw: &raw,
            keywords,
            received: None,
        },
    )?;
    let entry = store.mailbox_entry(account, mailbox.id, appended.uid)?;
    Ok(entry.map(|e| (e.uid.0, items::flags_of(&e))))
}

/// The device's categories become the email's user keywords.
fn set_categories(
    store: &Store,
    account: AccountId,
    mailbox: MailboxId,
    entry: &MailboxEntry,
    categories: &Element,
) -> Result<()> {
    let want: Vec<Keyword> = categories
        .children_with(Email::Category)
        .filter_map(|c| c.content())
        .filter_map(|c| Keyword::new(c.trim()).ok())
        .filter(|k| !k.as_str().starts_with('\\') && !k.as_str().starts_with('$'))
        .take(64)
        .collect();
    let have = items::categories_of(entry);
    let add: Vec<Keyword> = want
        .iter()
        .filter(|k| !have.iter().any(|h| k.matches(h)))
        .cloned()
        .collect();
    let remove: Vec<Keyword> = have
        .iter()
        .filter(|h| !want.iter().any(|k| k.matches(h)))
        .filter_map(|h| Keyword::new(h).ok())
        .collect();
    if !add.is_empty() {
        store.store_flags(account, mailbox, &[entry.uid], FlagOp::Add, &add, None)?;
    }
    if !remove.is_empty() {
        store.store_flags(
            account,
            mailbox,
            &[entry.uid],
            FlagOp::Remove,
            &remove,
            None,
        )?;
    }
    Ok(())
}

fn flag(
    store: &Store,
    account: AccountId,
    mailbox: MailboxId,
    uid: Uid,
    keyword: &str,
    on: bool,
) -> Result<()> {
    let k = Keyword::new(keyword).map_err(|_| Error::Status(PROTOCOL_ERROR))?;
    let op = if on { FlagOp::Add } else { FlagOp::Remove };
    store.store_flags(account, mailbox, &[uid], op, &[k], None)?;
    Ok(())
}

pub(crate) async fn get_item_estimate(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let collections = body
        .child(Est::Collections)
        .ok_or(Error::Status(crate::status::INVALID_XML))?;
    let mut out = Element::new(Est::GetItemEstimate);
    for c in collections.children_with(Est::Collection) {
        let id = c.child_text(Est::CollectionId).unwrap_or_default();
        let key = c.child_text(AirSync::SyncKey).unwrap_or_default();
        let filter = c
            .child(AirSync::Options)
            .and_then(|o| o.child_text(AirSync::FilterType))
            .and_then(|f| f.parse::<u8>().ok());
        let (store, account, device, id2) = (
            ctx.store.clone(),
            ctx.account,
            ctx.device.device_id.clone(),
            id.clone(),
        );
        let estimate = blocking(move || -> Result<std::result::Result<usize, u32>> {
            let Some(mb) = folders::mailbox(&store, account, &id2)? else {
                if id2 == folders::CONTACTS || id2 == folders::CALENDAR {
                    return Ok(Ok(0));
                }
                return Ok(Err(2));
            };
            let old: Option<CollectionState> = state::load(&store, account, &device, &id2)?;
            let Ok(at) = state_at(old, &key) else {
                return Ok(Err(4));
            };
            let now = visible(&store, account, mb.id, filter.unwrap_or(at.filter))?;
            Ok(Ok(diff(&now, &at.items).len()))
        })
        .await?;
        let response = match estimate {
            Ok(n) => Element::new(Est::Response)
                .with_text(Est::Status, "1")
                .with(
                    Element::new(Est::Collection)
                        .with_text(Est::CollectionId, id)
                        .with_text(Est::Estimate, n.to_string()),
                ),
            Err(s) => Element::new(Est::Response)
                .with_text(Est::Status, s.to_string())
                .with(Element::new(Est::Collection).with_text(Est::CollectionId, id)),
        };
        out.push(response);
    }
    Ok(Reply::of(&out))
}

/// After MoveItems: the device already holds the moved item in `to`
/// (as `new_uid`) and no longer in `from`, so neither collection's next
/// Sync sends it.
pub(crate) fn note_moved(
    store: &Store,
    account: AccountId,
    device: &str,
    (from, uid): (MailboxId, u32),
    (to, new_uid): (MailboxId, u32),
    flags: u32,
) -> Result<()> {
    let from_id = from.0.to_string();
    if let Some(mut st) = state::load::<CollectionState>(store, account, device, &from_id)? {
        st.items.remove(&uid);
        state::save(store, account, device, &from_id, &st)?;
    }
    let to_id = to.0.to_string();
    if let Some(mut st) = state::load::<CollectionState>(store, account, device, &to_id)? {
        st.items.insert(new_uid, flags);
        state::save(store, account, device, &to_id, &st)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_windows() {
        assert_eq!(filter_seconds(0), None);
        assert_eq!(filter_seconds(3), Some(7 * 86_400));
        assert_eq!(filter_seconds(99), None);
    }

    #[test]
    fn keys_of_the_previous_answer_are_taken_once_more() {
        let st = CollectionState {
            nonce: 9,
            key: 4,
            prev_key: 3,
            prev_items: BTreeMap::from([(1, 0)]),
            ..CollectionState::default()
        };
        assert_eq!(state_at(Some(st.clone()), "00000009-4").unwrap().key, 4);
        let prev = state_at(Some(st.clone()), "00000009-3").unwrap();
        assert_eq!((prev.key, prev.items.len()), (3, 1));
        assert!(matches!(
            state_at(Some(st.clone()), "00000009-2"),
            Err(Error::Status(3))
        ));
        assert!(matches!(
            state_at(Some(st.clone()), "00000008-4"),
            Err(Error::Status(3))
        ));
        assert!(matches!(
            state_at(None, "00000009-4"),
            Err(Error::Status(3))
        ));
    }
}
