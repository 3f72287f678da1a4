//! Ping (MS-ASCMD §2.2.1.13): push as a long poll. The request waits
//! until a watched folder has something the device has not synced, or
//! the heartbeat passes, woken by the store's change events (and, for
//! changes by another process, a look every `external_poll`). A new Ping
//! of the same device ends a waiting one.

use std::collections::HashMap;

use tidings_eas_proto::Element;
use tidings_eas_proto::tags::Ping as P;
use tidings_types::MailboxId;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::state::{self, HierarchyState, PingState};
use crate::{Ctx, Reply, Result, blocking, folders, sync};

// Ping status (MS-ASCMD §2.2.3.177.11).
const EXPIRED: u32 = 1;
const CHANGES: u32 = 2;
const MISSING: u32 = 3;
const HEARTBEAT_OUT_OF_RANGE: u32 = 5;
const TOO_MANY_FOLDERS: u32 = 6;
const FOLDER_SYNC_REQUIRED: u32 = 7;

fn status(code: u32) -> Reply {
    Reply::of(&Element::new(P::Ping).with_text(P::Status, code.to_string()))
}

pub(crate) async fn ping(
    ctx: &Ctx<'_>,
    body: &Element,
    shutdown: &CancellationToken,
    superseded: &tokio::sync::Notify,
) -> Result<Reply> {
    let (store, account, device) = (ctx.store.clone(), ctx.account, ctx.device.device_id.clone());
    let saved: PingState = {
        let (store, device) = (store.clone(), device.clone());
        blocking(move || state::load(&store, account, &device, state::PING)).await?
    }
    .unwrap_or_default();
    let heartbeat = body
        .child_text(P::HeartbeatInterval)
        .and_then(|h| h.trim().parse::<u32>().ok())
        .or((saved.heartbeat > 0).then_some(saved.heartbeat));
    let requested: Vec<String> = body
        .child(P::Folders)
        .map(|f| {
            f.children_with(P::Folder)
                .filter_map(|f| f.child_text(P::Id))
                .collect()
        })
        .unwrap_or_default();
    let folder_ids = if requested.is_empty() {
        saved.folders.clone()
    } else {
        requested
    };
    let Some(heartbeat) = heartbeat else {
        return Ok(status(MISSING));
    };
    if folder_ids.is_empty() {
        return Ok(status(MISSING));
    }
    let (min, max) = (ctx.config.min_heartbeat, ctx.config.max_heartbeat);
    if heartbeat < min || heartbeat > max {
        let limit = if heartbeat < min { min } else { max };
        return Ok(Reply::of(
            &Element::new(P::Ping)
                .with_text(P::Status, HEARTBEAT_OUT_OF_RANGE.to_string())
                .with_text(P::HeartbeatInterval, limit.to_string()),
        ));
    }
    if folder_ids.len() > ctx.config.max_ping_folders {
        return Ok(Reply::of(
            &Element::new(P::Ping)
                .with_text(P::Status, TOO_MANY_FOLDERS.to_string())
                .with_text(P::MaxFolders, ctx.config.max_ping_folders.to_string()),
        ));
    }
    let new = PingState {
        heartbeat,
        folders: folder_ids.clone(),
    };
    // Subscribe before looking, so a change between the look and the
    // wait still wakes us.
    let mut events = store.subscribe();
    let watched: HashMap<MailboxId, String> = {
        let (store, device, ids) = (store.clone(), device.clone(), folder_ids.clone());
        let save = new != saved;
        blocking(move || -> Result<Option<HashMap<MailboxId, String>>> {
            if save {
                state::save(&store, account, &device, state::PING, &new)?;
            }
            let mut out = HashMap::new();
            for id in ids {
                match folders::mailbox(&store, account, &id)? {
                    Some(m) => {
                        out.insert(m.id, id);
                    }
                    None if id == folders::CONTACTS || id == folders::CALENDAR => {}
                    None => return Ok(None),
                }
            }
            Ok(Some(out))
        })
        .await?
    }
    .unwrap_or_default();
    if watched.is_empty()
        && folder_ids
            .iter()
            .any(|f| f != folders::CONTACTS && f != folders::CALENDAR)
    {
        return Ok(status(FOLDER_SYNC_REQUIRED));
    }

    if hierarchy_changed(ctx).await? {
        return Ok(status(FOLDER_SYNC_REQUIRED));
    }
    let changed = pending_of(ctx, watched.values().cloned().collect()).await?;
    if !changed.is_empty() {
        return Ok(changes(&changed));
    }
    tracing::debug!(
        device = %ctx.device.device_id,
        folders = watched.len(),
        "ActiveSync Ping waiting for changes"
    );
    let deadline = tokio::time::sleep(crate::heartbeat(heartbeat));
    tokio::pin!(deadline);
    let mut external = tokio::time::interval(ctx.config.external_poll);
    external.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    external.tick().await;
    loop {
        let to_check: Vec<String> = tokio::select! {
            _ = &mut deadline => return Ok(status(EXPIRED)),
            _ = shutdown.cancelled() => return Ok(status(EXPIRED)),
            _ = superseded.notified() => return Ok(status(EXPIRED)),
            _ = external.tick() => watched.values().cloned().collect(),
            event = events.recv() => match event {
                Ok(e) if e.account == account => e
                    .mailboxes
                    .iter()
                    .filter_map(|m| watched.get(m).cloned())
                    .collect(),
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => watched.values().cloned().collect(),
                Err(RecvError::Closed) => return Ok(status(EXPIRED)),
            },
        };
        // Any change of the account may be a folder made, renamed or
        // deleted elsewhere: the device is told to FolderSync.
        if hierarchy_changed(ctx).await? {
            return Ok(status(FOLDER_SYNC_REQUIRED));
        }
        if to_check.is_empty() {
            continue;
        }
        let changed = pending_of(ctx, to_check).await?;
        if !changed.is_empty() {
            return Ok(changes(&changed));
        }
    }
}

/// Whether the folders differ from what the device's last FolderSync
/// gave it (no FolderSync yet: no).
async fn hierarchy_changed(ctx: &Ctx<'_>) -> Result<bool> {
    let (store, account, device) = (ctx.store.clone(), ctx.account, ctx.device.device_id.clone());
    blocking(move || {
        let Some(st) = state::load::<HierarchyState>(&store, account, &device, state::HIERARCHY)?
        else {
            return Ok(false);
        };
        Ok(folders::current(&store, account)? != st.folders)
    })
    .await
}

/// The folders among `ids` with changes the device has not synced.
async fn pending_of(ctx: &Ctx<'_>, ids: Vec<String>) -> Result<Vec<String>> {
    let (store, account, device) = (ctx.store.clone(), ctx.account, ctx.device.device_id.clone());
    blocking(move || {
        let mut out = Vec::new();
        for id in ids {
            if sync::pending(&store, account, &device, &id)?.is_some_and(|n| n > 0) {
                out.push(id);
            }
        }
        Ok(out)
    })
    .await
}

fn changes(ids: &[String]) -> Reply {
    let mut folders = Element::new(P::Folders);
    for id in ids {
        folders.push(Element::text(P::Folder, id.clone()));
    }
    Reply::of(
        &Element::new(P::Ping)
            .with_text(P::Status, CHANGES.to_string())
            .with(folders),
    )
}
