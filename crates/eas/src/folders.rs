//! FolderSync, FolderCreate, FolderUpdate, FolderDelete (MS-ASCMD
//! §2.2.1.5, §2.2.1.3, §2.2.1.6, §2.2.1.4): the account's mailboxes as
//! folders, plus an empty Contacts and Calendar folder so that clients
//! that expect them do not fail (their contents are not synced).

use std::collections::BTreeMap;

use tidings_eas_proto::Element;
use tidings_eas_proto::tags::FolderHierarchy as F;
use tidings_store::{Mailbox, Store, StoreError};
use tidings_types::{AccountId, MailboxId, MailboxName, MailboxRole};

use crate::state::{self, HierarchyState};
use crate::{Ctx, Error, Reply, Result, blocking};

/// The ServerIds of the two placeholder folders.
pub(crate) const CONTACTS: &str = "contacts";
pub(crate) const CALENDAR: &str = "calendar";

// FolderSync and friends' own status codes (MS-ASCMD §2.2.3.177.4–.7).
const EXISTS: u32 = 2;
const SPECIAL: u32 = 3;
const NOT_FOUND: u32 = 4;
const PARENT_NOT_FOUND: u32 = 5;
const SERVER_ERROR: u32 = 6;
const BAD_KEY: u32 = 9;
const BAD_REQUEST: u32 = 10;

/// Folder types (MS-ASCMD §2.2.3.186.3).
fn folder_type(role: Option<MailboxRole>) -> u8 {
    match role {
        Some(MailboxRole::Inbox) => 2,
        Some(MailboxRole::Drafts) => 3,
        Some(MailboxRole::Trash) => 4,
        Some(MailboxRole::Sent) => 5,
        _ => 12,
    }
}

/// The folders as the device should see them now.
pub(crate) fn current(
    store: &Store,
    account: AccountId,
) -> Result<BTreeMap<String, (String, String, u8)>> {
    let mailboxes = store.mailboxes(account)?;
    let by_name: BTreeMap<&str, MailboxId> =
        mailboxes.iter().map(|m| (m.name.as_str(), m.id)).collect();
    let mut out = BTreeMap::new();
    for m in &mailboxes {
        let parent = m
            .name
            .parent()
            .and_then(|p| by_name.get(p.as_str()).copied())
            .map_or_else(|| "0".to_string(), |id| id.0.to_string());
        let display = m
            .name
            .as_str()
            .rsplit(tidings_types::SEPARATOR)
            .next()
            .unwrap_or(m.name.as_str())
            .to_string();
        out.insert(m.id.0.to_string(), (parent, display, folder_type(m.role)));
    }
    out.insert(CONTACTS.to_string(), ("0".into(), "Contacts".into(), 9));
    out.insert(CALENDAR.to_string(), ("0".into(), "Calendar".into(), 8));
    Ok(out)
}

/// The account's mailbox with this ServerId.
pub(crate) fn mailbox(store: &Store, account: AccountId, id: &str) -> Result<Option<Mailbox>> {
    let Ok(n) = id.parse::<i64>() else {
        return Ok(None);
    };
    Ok(store.mailboxes(account)?.into_iter().find(|m| m.id.0 == n))
}

fn folder_element(tag: tidings_eas_proto::Tag, id: &str, f: &(String, String, u8)) -> Element {
    Element::new(tag)
        .with_text(F::ServerId, id)
        .with_text(F::ParentId, f.0.clone())
        .with_text(F::DisplayName, f.1.clone())
        .with_text(F::Type, f.2.to_string())
}

pub(crate) async fn folder_sync(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let key = body
        .child_text(F::SyncKey)
        .ok_or(Error::Status(BAD_REQUEST))?;
    let (store, account, device) = (ctx.store.clone(), ctx.account, ctx.device.device_id.clone());
    blocking(move || {
        let now = current(&store, account)?;
        let old: Option<HierarchyState> = state::load(&store, account, &device, state::HIERARCHY)?;
        let (mut st, before) = if key == "0" {
            let st = HierarchyState {
                nonce: state::fresh_nonce(),
                key: 0,
                folders: BTreeMap::new(),
            };
            (st, BTreeMap::new())
        } else {
            match (state::parse_key(&key), old) {
                (Some((nonce, n)), Some(st)) if st.nonce == nonce && st.key == n => {
                    let before = st.folders.clone();
                    (st, before)
                }
                _ => return Err(Error::Status(BAD_KEY)),
            }
        };
        let mut changes = Element::new(F::Changes);
        let mut count = 0usize;
        for (id, f) in &before {
            if !now.contains_key(id) {
                changes.push(Element::new(F::Delete).with_text(F::ServerId, id.clone()));
                count += 1;
            } else if now.get(id) != Some(f) {
                changes.push(folder_element(F::Update, id, &now[id]));
                count += 1;
            }
        }
        // Parents before children: mailbox ids ascend with creation, and a
        // parent is made before its children.
        let mut added: Vec<(&String, &(String, String, u8))> = now
            .iter()
            .filter(|(id, _)| !before.contains_key(*id))
            .collect();
        added.sort_by_key(|(id, _)| id.parse::<i64>().unwrap_or(i64::MAX));
        for (id, f) in added {
            changes.push(folder_element(F::Add, id, f));
            count += 1;
        }
        if count > 0 || key == "0" {
            st.key += 1;
            st.folders = now;
            state::save(&store, account, &device, state::HIERARCHY, &st)?;
        }
        let mut changes_with_count =
            Element::new(F::Changes).with_text(F::Count, count.to_string());
        changes_with_count.children.extend(changes.children);
        let reply = Element::new(F::FolderSync)
            .with_text(F::Status, "1")
            .with_text(F::SyncKey, state::format_key(st.nonce, st.key))
            .with(changes_with_count);
        Ok(Reply::of(&reply))
    })
    .await
}

/// The hierarchy state if `key` is its current key.
fn checked_state(
    store: &Store,
    account: AccountId,
    device: &str,
    key: Option<String>,
) -> Result<HierarchyState> {
    let key = key.ok_or(Error::Status(BAD_REQUEST))?;
    let st: Option<HierarchyState> = state::load(store, account, device, state::HIERARCHY)?;
    match (state::parse_key(&key), st) {
        (Some((nonce, n)), Some(st)) if st.nonce == nonce && st.key == n => Ok(st),
        _ => Err(Error::Status(BAD_KEY)),
    }
}

fn map_store_error(e: Error) -> Error {
    match e {
        Error::Store(StoreError::AlreadyExists(_)) => Error::Status(EXISTS),
        Error::Store(StoreError::NotFound(_)) => Error::Status(NOT_FOUND),
        Error::Store(StoreError::BadMailboxName(_)) => Error::Status(BAD_REQUEST),
        Error::Store(StoreError::Refused(_) | StoreError::NoPermission(_)) => {
            Error::Status(SPECIAL)
        }
        Error::Store(e) if !e.is_temporary() => Error::Status(SERVER_ERROR),
        e => e,
    }
}

/// The full name of `display` under the folder `parent` ("0": the top).
fn child_name(
    store: &Store,
    account: AccountId,
    parent: &str,
    display: &str,
) -> Result<MailboxName> {
    if display.is_empty() || display.contains(tidings_types::SEPARATOR) {
        return Err(Error::Status(BAD_REQUEST));
    }
    let full = if parent == "0" {
        display.to_string()
    } else {
        let p = mailbox(store, account, parent)?.ok_or(Error::Status(PARENT_NOT_FOUND))?;
        format!("{}{}{display}", p.name.as_str(), tidings_types::SEPARATOR)
    };
    MailboxName::new(&full).map_err(|_| Error::Status(BAD_REQUEST))
}

pub(crate) async fn folder_create(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let key = body.child_text(F::SyncKey);
    let parent = body.child_text(F::ParentId).unwrap_or_else(|| "0".into());
    let display = body
        .child_text(F::DisplayName)
        .ok_or(Error::Status(BAD_REQUEST))?;
    let (store, account, device) = (ctx.store.clone(), ctx.account, ctx.device.device_id.clone());
    blocking(move || {
        let mut st = checked_state(&store, account, &device, key)?;
        let name = child_name(&store, account, &parent, &display)?;
        if store.mailbox(account, &name)?.is_some() {
            return Err(Error::Status(EXISTS));
        }
        let id = store
            .create_mailbox(account, &name, None)
            .map_err(|e| map_store_error(e.into()))?;
        st.key += 1;
        st.folders
            .insert(id.0.to_string(), (parent.clone(), display.clone(), 12));
        state::save(&store, account, &device, state::HIERARCHY, &st)?;
        Ok(Reply::of(
            &Element::new(F::FolderCreate)
                .with_text(F::Status, "1")
                .with_text(F::SyncKey, state::format_key(st.nonce, st.key))
                .with_text(F::ServerId, id.0.to_string()),
        ))
    })
    .await
}

pub(crate) async fn folder_update(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let key = body.child_text(F::SyncKey);
    let id = body
        .child_text(F::ServerId)
        .ok_or(Error::Status(BAD_REQUEST))?;
    let parent = body.child_text(F::ParentId).unwrap_or_else(|| "0".into());
    let display = body
        .child_text(F::DisplayName)
        .ok_or(Error::Status(BAD_REQUEST))?;
    let (store, account, device) = (ctx.store.clone(), ctx.account, ctx.device.device_id.clone());
    blocking(move || {
        let mut st = checked_state(&store, account, &device, key)?;
        let m = mailbox(&store, account, &id)?.ok_or(Error::Status(NOT_FOUND))?;
        if m.role.is_some() {
            return Err(Error::Status(SPECIAL));
        }
        let to = child_name(&store, account, &parent, &display)?;
        if to != m.name {
            if store.mailbox(account, &to)?.is_some() {
                return Err(Error::Status(EXISTS));
            }
            store
                .rename_mailbox(account, &m.name, &to)
                .map_err(|e| map_store_error(e.into()))?;
        }
        st.key += 1;
        st.folders.insert(
            id.clone(),
            (parent.clone(), display.clone(), folder_type(m.role)),
        );
        state::save(&store, account, &device, state::HIERARCHY, &st)?;
        Ok(Reply::of(
            &Element::new(F::FolderUpdate)
                .with_text(F::Status, "1")
                .with_text(F::SyncKey, state::format_key(st.nonce, st.key)),
        ))
    })
    .await
}

pub(crate) async fn folder_delete(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let key = body.child_text(F::SyncKey);
    let id = body
        .child_text(F::ServerId)
        .ok_or(Error::Status(BAD_REQUEST))?;
    let (store, account, device) = (ctx.store.clone(), ctx.account, ctx.device.device_id.clone());
    blocking(move || {
        let mut st = checked_state(&store, account, &device, key)?;
        if id == CONTACTS || id == CALENDAR {
            return Err(Error::Status(SPECIAL));
        }
        let m = mailbox(&store, account, &id)?.ok_or(Error::Status(NOT_FOUND))?;
        if m.role.is_some() {
            return Err(Error::Status(SPECIAL));
        }
        store
            .delete_mailbox(account, &m.name)
            .map_err(|e| map_store_error(e.into()))?;
        store.eas_set_sync_state(account, &device, &id, None)?;
        st.key += 1;
        st.folders.remove(&id);
        state::save(&store, account, &device, state::HIERARCHY, &st)?;
        Ok(Reply::of(
            &Element::new(F::FolderDelete)
                .with_text(F::Status, "1")
                .with_text(F::SyncKey, state::format_key(st.nonce, st.key)),
        ))
    })
    .await
}
