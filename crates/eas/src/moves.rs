//! MoveItems (MS-ASCMD §2.2.1.12): an item to another folder, as IMAP
//! MOVE does (the email keeps its id; it gets a new UID there).

use tidings_eas_proto::Element;
use tidings_eas_proto::tags::Move as M;
use tidings_types::Uid;

use crate::{Ctx, Reply, Result, blocking, folders, items, sync};

// MoveItems status (MS-ASCMD §2.2.3.177.10).
const BAD_SOURCE: u32 = 1;
const BAD_DESTINATION: u32 = 2;
const MOVED: u32 = 3;
const SAME_FOLDER: u32 = 4;

pub(crate) async fn move_items(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let (store, account, device) = (ctx.store.clone(), ctx.account, ctx.device.device_id.clone());
    let body = body.clone();
    blocking(move || {
        let mut out = Element::new(M::MoveItems);
        for mv in body.children_with(M::Move) {
            let src_msg = mv.child_text(M::SrcMsgId).unwrap_or_default();
            let src = mv.child_text(M::SrcFldId).unwrap_or_default();
            let dst = mv.child_text(M::DstFldId).unwrap_or_default();
            let answer = |code: u32, new: Option<String>| {
                let mut r = Element::new(M::Response)
                    .with_text(M::SrcMsgId, src_msg.clone())
                    .with_text(M::Status, code.to_string());
                if let Some(n) = new {
                    r.push(Element::text(M::DstMsgId, n));
                }
                r
            };
            let from = folders::mailbox(&store, account, &src)?;
            let entry = match (&from, items::parse_server_id(&src_msg)) {
                (Some(f), Some((m, uid))) if m == f.id.0 => {
                    store.mailbox_entry(account, f.id, Uid(uid))?
                }
                _ => None,
            };
            let (Some(from), Some(entry)) = (from, entry) else {
                out.push(answer(BAD_SOURCE, None));
                continue;
            };
            let Some(to) = folders::mailbox(&store, account, &dst)? else {
                out.push(answer(BAD_DESTINATION, None));
                continue;
            };
            if to.id == from.id {
                out.push(answer(SAME_FOLDER, None));
                continue;
            }
            let copied = store.move_emails(account, from.id, &[entry.uid], to.id)?;
            let Some(&(_, new_uid)) = copied.pairs.first() else {
                out.push(answer(BAD_SOURCE, None));
                continue;
            };
            sync::note_moved(
                &store,
                account,
                &device,
                (from.id, entry.uid.0),
                (to.id, new_uid.0),
                items::flags_of(&entry),
            )?;
            out.push(answer(MOVED, Some(items::server_id(to.id, new_uid.0))));
        }
        Ok(Reply::of(&out))
    })
    .await
}
