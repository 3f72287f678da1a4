//! Settings (MS-ASCMD §2.2.1.18): Out of Office ↔ the account's vacation
//! response (the same one JMAP's VacationResponse and Sieve-less
//! auto-replies use), device information, user information.

use tidings_eas_proto::Element;
use tidings_eas_proto::tags::Settings as S;
use tidings_store::Vacation;

use crate::{Ctx, Error, Reply, Result, blocking, date};

pub(crate) async fn settings(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let (store, account, address) = (ctx.store.clone(), ctx.account, ctx.address.to_string());
    let mut device = ctx.device.clone();
    let body = body.clone();
    blocking(move || {
        let mut out = Element::new(S::Settings).with_text(S::Status, "1");
        for part in body.elements() {
            if part.tag == S::Oof {
                if part.child(S::Get).is_some() {
                    let v = store.vacation(account)?;
                    let state = match (v.enabled, v.from_date.is_some() || v.to_date.is_some()) {
                        (false, _) => "0",
                        (true, false) => "1",
                        (true, true) => "2",
                    };
                    let mut get = Element::new(S::Get).with_text(S::OofState, state);
                    if let Some(f) = v.from_date {
                        get.push(Element::text(S::StartTime, date::iso(f)));
                    }
                    if let Some(t) = v.to_date {
                        get.push(Element::text(S::EndTime, date::iso(t)));
                    }
                    let text = v.text_body.clone().unwrap_or_default();
                    for scope in [
                        S::AppliesToInternal,
                        S::AppliesToExternalKnown,
                        S::AppliesToExternalUnknown,
                    ] {
                        get.push(
                            Element::new(S::OofMessage)
                                .with(Element::new(scope))
                                .with_text(S::Enabled, if v.enabled { "1" } else { "0" })
                                .with_text(S::ReplyMessage, text.clone())
                                .with_text(S::BodyType, "Text"),
                        );
                    }
                    out.push(Element::new(S::Oof).with_text(S::Status, "1").with(get));
                } else if let Some(set) = part.child(S::Set) {
                    let state = set.child_text(S::OofState).unwrap_or_default();
                    let mut v = store.vacation(account)?;
                    match state.trim() {
                        "0" => v.enabled = false,
                        "1" | "2" => {
                            v.enabled = true;
                            let timed = state.trim() == "2";
                            v.from_date = if timed {
                                set.child_text(S::StartTime)
                                    .and_then(|s| date::parse_iso(&s))
                            } else {
                                None
                            };
                            v.to_date = if timed {
                                set.child_text(S::EndTime).and_then(|s| date::parse_iso(&s))
                            } else {
                                None
                            };
                        }
                        _ => {
                            out.push(Element::new(S::Oof).with_text(S::Status, "2"));
                            continue;
                        }
                    }
                    if let Some(text) = set
                        .children_with(S::OofMessage)
                        .filter(|m| m.child_text(S::Enabled).as_deref() != Some("0"))
                        .find_map(|m| m.child_text(S::ReplyMessage))
                    {
                        v.text_body = Some(text);
                        v.html_body = None;
                    }
                    let v = Vacation { ..v };
                    store.set_vacation(account, &v)?;
                    out.push(Element::new(S::Oof).with_text(S::Status, "1"));
                }
            } else if part.tag == S::DeviceInformation {
                if let Some(set) = part.child(S::Set) {
                    if let Some(m) = set.child_text(S::Model) {
                        device.model = m.chars().take(200).collect();
                    }
                    if let Some(a) = set.child_text(S::UserAgent) {
                        device.user_agent = a.chars().take(200).collect();
                    }
                    store.eas_put_device(&device).map_err(Error::from)?;
                }
                out.push(Element::new(S::DeviceInformation).with_text(S::Status, "1"));
            } else if part.tag == S::UserInformation {
                let mut emails = Element::new(S::EmailAddresses);
                for a in store.own_addresses(account)? {
                    emails.push(Element::text(S::SmtpAddress, a));
                }
                emails.push(Element::text(S::PrimarySmtpAddress, address.clone()));
                let get = Element::new(S::Get).with(
                    Element::new(S::Accounts).with(
                        Element::new(S::Account)
                            .with_text(S::UserDisplayName, address.clone())
                            .with(emails),
                    ),
                );
                out.push(
                    Element::new(S::UserInformation)
                        .with_text(S::Status, "1")
                        .with(get),
                );
            } else if part.tag == S::DevicePassword {
                out.push(Element::new(S::DevicePassword).with_text(S::Status, "1"));
            } else {
                out.push(Element::new(part.tag).with_text(S::Status, "2"));
            }
        }
        Ok(Reply::of(&out))
    })
    .await
}
