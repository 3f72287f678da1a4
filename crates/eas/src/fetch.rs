//! ItemOperations (MS-ASCMD §2.2.1.10): Fetch of an item (its body in
//! the preferred form) or of an attachment by FileReference, and
//! EmptyFolderContents.

use base64::Engine;
use tidings_eas_proto::Element;
use tidings_eas_proto::tags::{AirSync, AirSyncBase, ItemOperations as I};
use tidings_store::FlagOp;
use tidings_types::{Keyword, Uid};

use crate::items::{self, BodyOptions};
use crate::{Ctx, Error, Reply, Result, blocking, folders, status};

// ItemOperations status (MS-ASCMD §2.2.3.177.8).
const PROTOCOL_ERROR: u32 = 2;
const NOT_FOUND: u32 = 6;
const BAD_ATTACHMENT: u32 = 15;

pub(crate) async fn item_operations(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let (store, account) = (ctx.store.clone(), ctx.account);
    let body = body.clone();
    blocking(move || {
        let mut response = Element::new(I::Response);
        for op in body.elements() {
            if op.tag == I::Fetch {
                response.push(fetch(&store, account, op)?);
            } else if op.tag == I::EmptyFolderContents {
                let id = op.child_text(AirSync::CollectionId).unwrap_or_default();
                let code = match folders::mailbox(&store, account, &id)? {
                    Some(m) => {
                        let uids: Vec<Uid> = store
                            .mailbox_entries(account, m.id)?
                            .iter()
                            .map(|e| e.uid)
                            .collect();
                        if !uids.is_empty() {
                            let deleted = [Keyword::new(Keyword::DELETED)
                                .map_err(|_| Error::Status(PROTOCOL_ERROR))?];
                            store.store_flags(account, m.id, &uids, FlagOp::Add, &deleted, None)?;
                            store.expunge(account, m.id, Some(&uids))?;
                        }
                        1
                    }
                    None => NOT_FOUND,
                };
                response.push(
                    Element::new(I::EmptyFolderContents)
                        .with_text(I::Status, code.to_string())
                        .with_text(AirSync::CollectionId, id),
                );
            } else {
                response
                    .push(Element::new(op.tag).with_text(I::Status, PROTOCOL_ERROR.to_string()));
            }
        }
        Ok(Reply::of(
            &Element::new(I::ItemOperations)
                .with_text(I::Status, status::OK.to_string())
                .with(response),
        ))
    })
    .await
}

fn fetch(
    store: &tidings_store::Store,
    account: tidings_types::AccountId,
    op: &Element,
) -> Result<Element> {
    if let Some(reference) = op.child_text(AirSyncBase::FileReference) {
        return Ok(match items::attachment(store, account, &reference)? {
            Some((ctype, bytes)) => Element::new(I::Fetch)
                .with_text(I::Status, "1")
                .with_text(AirSyncBase::FileReference, reference)
                .with(
                    Element::new(I::Properties)
                        .with_text(AirSyncBase::ContentType, ctype)
                        .with_text(
                            I::Data,
                            base64::engine::general_purpose::STANDARD.encode(bytes),
                        ),
                ),
            None => Element::new(I::Fetch)
                .with_text(I::Status, BAD_ATTACHMENT.to_string())
                .with_text(AirSyncBase::FileReference, reference),
        });
    }
    let collection = op.child_text(AirSync::CollectionId).unwrap_or_default();
    let sid = op.child_text(AirSync::ServerId).unwrap_or_default();
    let not_found = || {
        Element::new(I::Fetch)
            .with_text(I::Status, NOT_FOUND.to_string())
            .with_text(AirSync::CollectionId, collection.clone())
            .with_text(AirSync::ServerId, sid.clone())
    };
    let Some(mb) = folders::mailbox(store, account, &collection)? else {
        return Ok(not_found());
    };
    let Some((m, uid)) = items::parse_server_id(&sid) else {
        return Ok(not_found());
    };
    if m != mb.id.0 {
        return Ok(not_found());
    }
    let Some(entry) = store.mailbox_entry(account, mb.id, Uid(uid))? else {
        return Ok(not_found());
    };
    let options = BodyOptions::from_options(op.child(I::Options));
    let props = items::item_data(store, account, mb.id, &entry, &options, I::Properties, true)?;
    Ok(Element::new(I::Fetch)
        .with_text(I::Status, "1")
        .with_text(AirSync::CollectionId, collection)
        .with_text(AirSync::ServerId, sid)
        .with_text(AirSync::Class, "Email")
        .with(props))
}
