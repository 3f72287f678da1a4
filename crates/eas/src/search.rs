//! Search (MS-ASCMD §2.2.1.16) and Find (§2.2.1.2, 16.1) over the
//! store's full-text index, and the GAL: the account's domain users.

use std::collections::HashMap;

use tidings_eas_proto::Element;
use tidings_eas_proto::tags::{
    AirSync, Email, Find as F, GAL, ResolveRecipients as R, Search as S,
};
use tidings_store::{MailboxEntry, Store};
use tidings_types::{AccountId, EmailId, MailboxId, MailboxRole};

use crate::items::{self, BodyOptions};
use crate::{Ctx, Reply, Result, blocking, date, folders};

/// The most results of one request.
const MAX_RANGE: usize = 100;

/// `a-b` → (a, b), at most [`MAX_RANGE`] wide.
fn range(s: Option<String>) -> (usize, usize) {
    let parsed = s.and_then(|s| {
        let (a, b) = s.trim().split_once('-')?;
        Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?))
    });
    match parsed {
        Some((a, b)) if b >= a => (a, b.min(a + MAX_RANGE - 1)),
        _ => (0, 9),
    }
}

/// The (mailbox, entry) of each email to show for a search: in the given
/// collection, or in the first ordinary mailbox holding it.
fn locate(
    store: &Store,
    account: AccountId,
    collection: Option<&str>,
    emails: &[EmailId],
) -> Result<Vec<(MailboxId, MailboxEntry)>> {
    let mailboxes = match collection {
        Some(id) => folders::mailbox(store, account, id)?.into_iter().collect(),
        None => {
            let mut all = store.mailboxes(account)?;
            // Ordinary mailboxes first; All Mail and Starred only for what
            // is nowhere else.
            all.sort_by_key(|m| matches!(m.role, Some(MailboxRole::All | MailboxRole::Flagged)));
            all
        }
    };
    let mut at: HashMap<EmailId, (MailboxId, MailboxEntry)> = HashMap::new();
    for m in &mailboxes {
        for e in store.mailbox_entries(account, m.id)? {
            if !e.deleted {
                at.entry(e.email).or_insert((m.id, e));
            }
        }
    }
    Ok(emails.iter().filter_map(|e| at.remove(e)).collect())
}

fn gal(store: &Store, address: &str, query: &str) -> Result<Vec<String>> {
    let domain = address
        .rsplit('@')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let q = query.to_ascii_lowercase();
    Ok(store
        .accounts()?
        .into_iter()
        .map(|a| a.email)
        .filter(|e| {
            e.to_ascii_lowercase().ends_with(&format!("@{domain}"))
                && e.to_ascii_lowercase().contains(&q)
        })
        .collect())
}

fn gal_properties(tag: tidings_eas_proto::Tag, email: &str) -> Element {
    let local = email.split('@').next().unwrap_or(email);
    Element::new(tag)
        .with_text(GAL::DisplayName, local)
        .with_text(GAL::Alias, local)
        .with_text(GAL::EmailAddress, email)
}

pub(crate) async fn find(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let (store, account, address) = (ctx.store.clone(), ctx.account, ctx.address.to_string());
    let body = body.clone();
    blocking(move || {
        let search_id = body.child_text(F::SearchId).unwrap_or_default();
        let criterion = body
            .child(F::ExecuteSearch)
            .and_then(|x| x.elements().next());
        let Some(criterion) = criterion else {
            return Ok(Reply::of(&Element::new(F::Find).with_text(F::Status, "2")));
        };
        let (first, last) = range(
            criterion
                .child(F::Options)
                .and_then(|o| o.child_text(F::Range)),
        );
        let mut response = Element::new(F::Response).with_text(F::Status, "1");
        let total;
        if criterion.tag == F::GalSearchCriterion {
            let q = criterion.child_text(F::Query).unwrap_or_default();
            let found = gal(&store, &address, &q)?;
            total = found.len();
            for email in found.iter().skip(first).take(last + 1 - first) {
                response.push(Element::new(F::Result).with(gal_properties(F::Properties, email)));
            }
        } else {
            let query = criterion.child(F::Query);
            let text = query
                .and_then(|q| q.child_text(F::FreeText))
                .unwrap_or_default();
            let collection = query.and_then(|q| q.child_text(AirSync::CollectionId));
            if text.trim().is_empty() {
                return Ok(Reply::of(&Element::new(F::Find).with_text(F::Status, "2")));
            }
            let ids = store.search_text(account, &text)?;
            let found = locate(&store, account, collection.as_deref(), &ids)?;
            total = found.len();
            for (mb, e) in found.iter().skip(first).take(last + 1 - first) {
                let meta = store.email_meta(account, e.email)?;
                let env = &meta.envelope;
                let from = env
                    .from
                    .first()
                    .and_then(|a| a.email.clone())
                    .unwrap_or_default();
                let to: Vec<String> = env.to.iter().filter_map(|a| a.email.clone()).collect();
                let flags = items::flags_of(e);
                response.push(
                    Element::new(F::Result)
                        .with_text(AirSync::Class, "Email")
                        .with_text(AirSync::ServerId, items::server_id(*mb, e.uid.0))
                        .with_text(AirSync::CollectionId, mb.0.to_string())
                        .with(
                            Element::new(F::Properties)
                                .with_text(Email::Subject, env.subject.clone().unwrap_or_default())
                                .with_text(Email::DateReceived, date::iso(e.received))
                                .with_text(Email::DisplayTo, to.join("; "))
                                .with_text(Email::From, from)
                                .with_text(
                                    Email::Read,
                                    if flags & crate::state::READ != 0 {
                                        "1"
                                    } else {
                                        "0"
                                    },
                                )
                                .with_text(F::Preview, meta.preview.clone())
                                .with_text(
                                    F::HasAttachments,
                                    if meta.has_attachment { "1" } else { "0" },
                                ),
                        ),
                );
            }
        }
        let shown = total.saturating_sub(first).min(last + 1 - first);
        if shown > 0 {
            response.push(Element::text(
                F::Range,
                format!("{first}-{}", first + shown - 1),
            ));
        }
        response.push(Element::text(F::Total, total.to_string()));
        Ok(Reply::of(
            &Element::new(F::Find)
                .with_text(F::SearchId, search_id)
                .with_text(F::Status, "1")
                .with(response),
        ))
    })
    .await
}

/// The conditions of a mailbox Search query we serve: free text, a
/// collection, received after/before.
#[derive(Default)]
struct Conditions {
    text: Option<String>,
    collection: Option<String>,
    after: Option<i64>,
    before: Option<i64>,
}

fn conditions(e: &Element, c: &mut Conditions) {
    for x in e.elements() {
        if x.tag == S::And {
            conditions(x, c);
        } else if x.tag == S::FreeText {
            c.text = x.content();
        } else if x.tag == AirSync::CollectionId {
            c.collection = x.content();
        } else if x.tag == S::GreaterThan || x.tag == S::LessThan {
            let v = x.child_text(S::Value).and_then(|v| date::parse_iso(&v));
            if x.tag == S::GreaterThan {
                c.after = v
            } else {
                c.before = v
            }
        }
    }
}

pub(crate) async fn search(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let (store, account, address) = (ctx.store.clone(), ctx.account, ctx.address.to_string());
    let body = body.clone();
    blocking(move || {
        let Some(st) = body.child(S::Store) else {
            return Ok(Reply::of(
                &Element::new(S::Search).with_text(S::Status, "2"),
            ));
        };
        let name = st.child_text(S::Name).unwrap_or_default();
        let (first, last) = range(st.child(S::Options).and_then(|o| o.child_text(S::Range)));
        let mut out = Element::new(S::Store).with_text(S::Status, "1");
        let total;
        if name.eq_ignore_ascii_case("GAL") {
            let q = st.child_text(S::Query).unwrap_or_default();
            let found = gal(&store, &address, &q)?;
            total = found.len();
            for email in found.iter().skip(first).take(last + 1 - first) {
                out.push(Element::new(S::Result).with(gal_properties(S::Properties, email)));
            }
        } else if name.eq_ignore_ascii_case("Mailbox") {
            let mut c = Conditions::default();
            if let Some(q) = st.child(S::Query) {
                conditions(q, &mut c);
            }
            let mut found: Vec<(MailboxId, MailboxEntry)> = match &c.text {
                Some(t) if !t.trim().is_empty() => {
                    let ids = store.search_text(account, t)?;
                    locate(&store, account, c.collection.as_deref(), &ids)?
                }
                _ => {
                    let Some(id) = &c.collection else {
                        return Ok(Reply::of(
                            &Element::new(S::Search).with_text(S::Status, "3"),
                        ));
                    };
                    let Some(m) = folders::mailbox(&store, account, id)? else {
                        return Ok(Reply::of(
                            &Element::new(S::Search).with_text(S::Status, "3"),
                        ));
                    };
                    let mut v: Vec<_> = store
                        .mailbox_entries(account, m.id)?
                        .into_iter()
                        .filter(|e| !e.deleted)
                        .map(|e| (m.id, e))
                        .collect();
                    v.sort_by_key(|x| std::cmp::Reverse(x.1.received));
                    v
                }
            };
            found.retain(|(_, e)| {
                c.after.is_none_or(|t| e.received > t) && c.before.is_none_or(|t| e.received < t)
            });
            total = found.len();
            let options = BodyOptions::from_options(st.child(S::Options));
            for (mb, e) in found.iter().skip(first).take(last + 1 - first) {
                let props =
                    items::item_data(&store, account, *mb, e, &options, S::Properties, false)?;
                out.push(
                    Element::new(S::Result)
                        .with_text(AirSync::Class, "Email")
                        .with_text(S::LongId, items::server_id(*mb, e.uid.0))
                        .with_text(AirSync::CollectionId, mb.0.to_string())
                        .with(props),
                );
            }
        } else {
            return Ok(Reply::of(
                &Element::new(S::Search).with_text(S::Status, "3"),
            ));
        }
        let shown = total.saturating_sub(first).min(last + 1 - first);
        if shown > 0 {
            out.push(Element::text(
                S::Range,
                format!("{first}-{}", first + shown - 1),
            ));
        }
        out.push(Element::text(S::Total, total.to_string()));
        Ok(Reply::of(
            &Element::new(S::Search)
                .with_text(S::Status, "1")
                .with(Element::new(S::Response).with(out)),
        ))
    })
    .await
}

/// ResolveRecipients (MS-ASCMD §2.2.1.15): each `To` against the
/// accounts of the user's domain (the GAL): an exact address, else the
/// accounts whose address contains it.
pub(crate) async fn resolve_recipients(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let (store, address) = (ctx.store.clone(), ctx.address.to_string());
    let body = body.clone();
    blocking(move || {
        let mut out = Element::new(R::ResolveRecipients).with_text(R::Status, "1");
        for to in body.children_with(R::To).take(MAX_RANGE) {
            let query = to.content().unwrap_or_default();
            let query = query.trim();
            let exact = store
                .accounts()?
                .into_iter()
                .map(|a| a.email)
                .find(|e| e.eq_ignore_ascii_case(query));
            let found = match exact {
                Some(e) => vec![e],
                None if query.len() >= 2 => gal(&store, &address, query)?,
                None => Vec::new(),
            };
            // Status: 1 resolved, 2 ambiguous, 4 none (§2.2.3.177.13).
            let status = match found.len() {
                0 => "4",
                1 => "1",
                _ => "2",
            };
            let mut response = Element::new(R::Response)
                .with_text(R::To, query)
                .with_text(R::Status, status)
                .with_text(R::RecipientCount, found.len().min(MAX_RANGE).to_string());
            for email in found.iter().take(MAX_RANGE) {
                response.push(
                    Element::new(R::Recipient)
                        .with_text(R::Type, "1")
                        .with_text(R::DisplayName, email.split('@').next().unwrap_or(email))
                        .with_text(R::EmailAddress, email.clone()),
                );
            }
            out.push(response);
        }
        Ok(Reply::of(&out))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(range(Some("0-9".into())), (0, 9));
        assert_eq!(range(Some("5-1000".into())), (5, 104));
        assert_eq!(range(Some("9-1".into())), (0, 9));
        assert_eq!(range(None), (0, 9));
    }
}
