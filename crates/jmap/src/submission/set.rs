//! `EmailSubmission/set` (RFC 8621 §7.5): create sends an Email, update
//! may only cancel a pending one (`undoStatus: "canceled"`), destroy
//! forgets the record (what was sent stays sent). On success, the
//! implicit `Email/set` of `onSuccessUpdateEmail` / `onSuccessDestroyEmail`
//! runs and its response follows this one.

use std::collections::BTreeSet;

use mail_parser::MessageParser;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tidings_store::QueueId;
use tidings_types::EmailId;

use super::{
    Address, Envelope, KIND, MAX_KEPT, MAX_RECIPIENTS, Outgoing, SendError, Submission, now,
};
use crate::email::types::SetResponse;
use crate::error::SetError;
use crate::objects::{Change, Collection};
use crate::{Ctx, MethodError, arguments};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetRequest {
    account_id: String,
    #[serde(default)]
    if_in_state: Option<String>,
    #[serde(default)]
    create: Option<Map<String, Value>>,
    #[serde(default)]
    update: Option<Map<String, Value>>,
    #[serde(default)]
    destroy: Option<Vec<String>>,
    #[serde(default)]
    on_success_update_email: Option<Map<String, Value>>,
    #[serde(default)]
    on_success_destroy_email: Option<Vec<String>>,
}

pub fn set(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let req: SetRequest = arguments(args)?;
    ctx.check_account(&req.account_id)?;
    let count = req.create.as_ref().map_or(0, Map::len)
        + req.update.as_ref().map_or(0, Map::len)
        + req.destroy.as_ref().map_or(0, Vec::len);
    if count > ctx.limits.max_objects_in_set {
        return Err(MethodError::RequestTooLarge(format!(
            "{count} objects, at most {} (maxObjectsInSet)",
            ctx.limits.max_objects_in_set
        )));
    }
    let (store, account) = (ctx.store, ctx.account);
    // creation id → submission id, and the email of every submission
    // that succeeded in this call (for the implicit Email/set).
    let mut made: Map<String, Value> = Map::new();
    let mut succeeded: Vec<(String, String)> = Vec::new();
    let response = Collection::<Submission>::edit(store, account, KIND, |c| {
        let old_state = c.state_string();
        if let Some(expected) = &req.if_in_state
            && *expected != old_state
        {
            return Err(MethodError::StateMismatch(expected.clone()));
        }
        let mut response = SetResponse {
            account_id: req.account_id.clone(),
            old_state,
            ..SetResponse::default()
        };
        if let Some(create) = req.create {
            let (mut created, mut not_created) = (Map::new(), Map::new());
            for (creation_id, value) in create {
                match create_one(ctx, &value) {
                    Ok(s) => {
                        let id = c.make_id('S');
                        let now = now();
                        created.insert(
                            creation_id.clone(),
                            json!({
                                "id": id,
                                "threadId": s.thread_id,
                                "sendAt": crate::date::utc(s.send_at),
                                "undoStatus": s.undo_status_at(now),
                                "envelope": s.envelope,
                            }),
                        );
                        ctx.created
                            .borrow_mut()
                            .insert(creation_id.clone(), json!(id));
                        made.insert(creation_id, json!(id));
                        succeeded.push((id.clone(), s.email_id.clone()));
                        c.items.insert(id.clone(), s);
                        c.record(&id, Change::Created);
                    }
                    Err(e) => {
                        not_created.insert(creation_id, e.to_json());
                    }
                }
            }
            response.created = Some(created).filter(|m| !m.is_empty());
            response.not_created = Some(not_created).filter(|m| !m.is_empty());
        }
        if let Some(update) = req.update {
            let (mut updated, mut not_updated) = (Map::new(), Map::new());
            for (id, patch) in update {
                let Some(s) = c.items.get(&id).cloned() else {
                    not_updated.insert(
                        id,
                        SetError::new("notFound", "no such submission").to_json(),
                    );
                    continue;
                };
                match cancel(ctx, &s, &patch) {
                    Ok(Some(new)) => {
                        succeeded.push((id.clone(), new.email_id.clone()));
                        c.items.insert(id.clone(), new);
                        c.record(&id, Change::Updated);
                        updated.insert(id, Value::Null);
                    }
                    Ok(None) => {
                        succeeded.push((id.clone(), s.email_id.clone()));
                        updated.insert(id, Value::Null);
                    }
                    Err(e) => {
                        not_updated.insert(id, e.to_json());
                    }
                }
            }
            response.updated = Some(updated).filter(|m| !m.is_empty());
            response.not_updated = Some(not_updated).filter(|m| !m.is_empty());
        }
        if let Some(destroy) = req.destroy {
            let (mut destroyed, mut not_destroyed) = (Vec::new(), Map::new());
            for id in destroy {
                match c.items.remove(&id) {
                    Some(s) => {
                        c.record(&id, Change::Destroyed);
                        succeeded.push((id.clone(), s.email_id));
                        destroyed.push(id);
                    }
                    None => {
                        not_destroyed.insert(
                            id,
                            SetError::new("notFound", "no such submission").to_json(),
                        );
                    }
                }
            }
            response.destroyed = Some(destroyed).filter(|v| !v.is_empty());
            response.not_destroyed = Some(not_destroyed).filter(|m| !m.is_empty());
        }
        // Keep the newest MAX_KEPT (ids ascend with age: S1, S2, …).
        while c.items.len() > MAX_KEPT {
            let oldest = c
                .items
                .keys()
                .min_by_key(|k| k[1..].parse::<u64>().unwrap_or(0))
                .cloned();
            let Some(oldest) = oldest else { break };
            c.items.remove(&oldest);
            c.record(&oldest, Change::Destroyed);
        }
        response.new_state = c.state_string();
        Ok(response)
    })?;
    // RFC 8621 §7.5: the implicit Email/set, for the submissions that
    // succeeded, named by id or by `#creationId`.
    let email_of = |key: &str| -> Option<String> {
        let id = match key.strip_prefix('#') {
            Some(creation) => made.get(creation)?.as_str()?.to_string(),
            None => key.to_string(),
        };
        succeeded
            .iter()
            .find(|(s, _)| *s == id)
            .map(|(_, e)| e.clone())
    };
    let mut update = Map::new();
    for (key, patch) in req.on_success_update_email.unwrap_or_default() {
        if let Some(email) = email_of(&key) {
            update.insert(email, patch);
        }
    }
    let destroy: Vec<String> = req
        .on_success_destroy_email
        .unwrap_or_default()
        .iter()
        .filter_map(|k| email_of(k))
        .collect();
    if !update.is_empty() || !destroy.is_empty() {
        let mut args = Map::new();
        args.insert("accountId".into(), json!(req.account_id));
        if !update.is_empty() {
            args.insert("update".into(), Value::Object(update));
        }
        if !destroy.is_empty() {
            args.insert("destroy".into(), json!(destroy));
        }
        let result = crate::email::set::set(ctx, args);
        let implicit = match result {
            Ok(v) => ("Email/set".to_string(), v),
            Err(e) => ("error".to_string(), e.to_json()),
        };
        ctx.implicit.borrow_mut().push(implicit);
    }
    serde_json::to_value(response).map_err(|e| MethodError::ServerFail(e.to_string()))
}

/// A `#creationId` reference resolved (RFC 8620 §5.3), or the id itself.
fn resolve(ctx: &Ctx<'_>, id: &str) -> Option<String> {
    match id.strip_prefix('#') {
        Some(c) => ctx
            .created
            .borrow()
            .get(c)
            .and_then(Value::as_str)
            .map(str::to_string),
        None => Some(id.to_string()),
    }
}

/// Checks, sends and describes one new submission.
fn create_one(ctx: &Ctx<'_>, value: &Value) -> Result<Submission, SetError> {
    let Some(obj) = value.as_object() else {
        return Err(SetError::new("invalidProperties", "not an object"));
    };
    for p in obj.keys() {
        if !matches!(p.as_str(), "identityId" | "emailId" | "envelope") {
            return Err(SetError::invalid_property(
                p,
                format!("unknown or server-set property {p}"),
            ));
        }
    }
    let string = |p: &str| {
        obj.get(p)
            .and_then(Value::as_str)
            .and_then(|s| resolve(ctx, s))
            .ok_or_else(|| SetError::invalid_property(p, format!("{p} is required")))
    };
    let identity_id = string("identityId")?;
    let email_id = string("emailId")?;
    let identities = super::super::identity::load(ctx.store, ctx.account).map_err(server)?;
    if !identities.items.contains_key(&identity_id) {
        return Err(SetError::invalid_property("identityId", "no such identity"));
    }
    let Some(email) = EmailId::parse(&email_id) else {
        return Err(SetError::invalid_property("emailId", "no such email"));
    };
    let raw = match ctx.store.email_raw(ctx.account, email) {
        Ok(raw) => raw,
        Err(tidings_store::StoreError::NotFound(_)) => {
            return Err(SetError::invalid_property("emailId", "no such email"));
        }
        Err(e) => return Err(server(e.into())),
    };
    let state = ctx.state().map_err(server)?;
    let thread_id = ctx
        .view(&state)
        .map_err(server)?
        .emails
        .get(&email)
        .map(|i| i.thread.to_string())
        .unwrap_or_default();
    let given = !matches!(obj.get("envelope"), None | Some(Value::Null));
    let envelope = match obj.get("envelope") {
        None | Some(Value::Null) => derive_envelope(&raw)?,
        Some(v) => serde_json::from_value::<Envelope>(v.clone())
            .map_err(|e| SetError::invalid_property("envelope", e.to_string()))?,
    };
    let now = now();
    let send_at = hold(&envelope.mail_from, now, ctx.limits.max_delayed_send)?;
    for r in &envelope.rcpt_to {
        if r.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(SetError::invalid_property(
                "envelope",
                "rcptTo parameters are not supported",
            ));
        }
        if !valid_address(&r.email) {
            return Err(SetError::new(
                "invalidRecipients",
                format!("not an address: {}", r.email),
            ));
        }
    }
    let rcpt_to: Vec<String> = envelope
        .rcpt_to
        .iter()
        .map(|r| r.email.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if rcpt_to.is_empty() {
        return Err(SetError::new(
            "noRecipients",
            "the envelope has no recipients",
        ));
    }
    if rcpt_to.len() > MAX_RECIPIENTS {
        return Err(SetError::new(
            "tooManyRecipients",
            format!("at most {MAX_RECIPIENTS} recipients"),
        ));
    }
    let mail_from = envelope.mail_from.email.clone();
    // A derived mailFrom is the From/Sender address, whose refusal is
    // forbiddenFrom (the outbound check below); a given one is checked
    // on its own.
    if given
        && !ctx
            .store
            .may_send_as(ctx.account, &mail_from)
            .map_err(|e| server(e.into()))?
    {
        return Err(SetError::new(
            "forbiddenMailFrom",
            format!("this account may not use {mail_from} as the envelope sender"),
        ));
    }
    let Some(outbound) = ctx.outbound else {
        return Err(SetError::new(
            "forbiddenToSend",
            "this server sends no mail",
        ));
    };
    let sent = without_bcc(&raw);
    let queued = outbound.send(&Outgoing {
        account: ctx.account,
        mail_from: &mail_from,
        rcpt_to: &rcpt_to,
        raw: &sent,
        send_at: if send_at > now { send_at } else { 0 },
    });
    let queue_id = match queued {
        Ok(id) => id,
        Err(SendError::ForbiddenFrom(why)) => return Err(SetError::new("forbiddenFrom", why)),
        Err(SendError::ForbiddenToSend(why)) => return Err(SetError::new("forbiddenToSend", why)),
        Err(SendError::InvalidEmail(why)) => {
            return Err(SetError {
                kind: "invalidEmail",
                description: why,
                properties: vec!["emailId".into()],
            });
        }
        Err(SendError::Failed(why)) => return Err(SetError::new("serverFail", why)),
    };
    Ok(Submission {
        identity_id,
        email_id,
        thread_id,
        envelope,
        send_at,
        undo_status: "pending".into(),
        queue_id: queue_id.0,
    })
}

/// `Some(updated)` when cancelled, `None` for a no-op patch.
fn cancel(ctx: &Ctx<'_>, s: &Submission, patch: &Value) -> Result<Option<Submission>, SetError> {
    let Some(obj) = patch.as_object() else {
        return Err(SetError::new("invalidProperties", "not an object"));
    };
    let mut out = None;
    for (p, v) in obj {
        match (p.as_str(), v.as_str()) {
            ("undoStatus", Some("canceled")) => {
                if s.undo_status == "canceled" {
                    continue;
                }
                let now = now();
                let gone = s.undo_status_at(now) == "pending"
                    && ctx
                        .store
                        .queue_cancel_held(QueueId(s.queue_id), now)
                        .map_err(|e| server(e.into()))?;
                if !gone {
                    return Err(SetError::new(
                        "cannotUnsend",
                        "the message has been released for delivery",
                    ));
                }
                let mut new = s.clone();
                new.undo_status = "canceled".into();
                out = Some(new);
            }
            _ => {
                return Err(SetError::invalid_property(
                    p,
                    "only undoStatus may be changed, to canceled",
                ));
            }
        }
    }
    Ok(out)
}

fn server(e: MethodError) -> SetError {
    SetError::new("serverFail", e.to_string())
}

/// The send time the `mailFrom` parameters ask for (RFC 4865 HOLDFOR in
/// seconds, HOLDUNTIL as a date), at most `max` seconds ahead; `now`
/// without them.
fn hold(from: &Address, now: i64, max: u64) -> Result<i64, SetError> {
    let mut at = now;
    for (name, value) in from.parameters.iter().flatten() {
        let text = value.as_str().unwrap_or_default();
        let asked = match name.to_ascii_uppercase().as_str() {
            "HOLDFOR" => text.parse::<i64>().ok().map(|s| now.saturating_add(s)),
            "HOLDUNTIL" => crate::date::parse(text),
            _ => {
                return Err(SetError::invalid_property(
                    "envelope",
                    format!("unsupported mailFrom parameter {name}"),
                ));
            }
        };
        let Some(asked) = asked.filter(|a| *a >= now) else {
            return Err(SetError::invalid_property(
                "envelope",
                format!("invalid {name} value"),
            ));
        };
        if asked - now > i64::try_from(max).unwrap_or(i64::MAX) {
            return Err(SetError::invalid_property(
                "envelope",
                format!("{name} beyond maxDelayedSend ({max} s)"),
            ));
        }
        at = asked;
    }
    Ok(at)
}

fn valid_address(a: &str) -> bool {
    a.rsplit_once('@').is_some_and(|(l, d)| {
        !l.is_empty()
            && !d.is_empty()
            && !a
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    })
}

/// RFC 8621 §7: `mailFrom` from Sender, else From (one address);
/// `rcptTo` the To, Cc and Bcc addresses.
fn derive_envelope(raw: &[u8]) -> Result<Envelope, SetError> {
    let invalid = |why: &str| SetError {
        kind: "invalidEmail",
        description: why.to_string(),
        properties: vec!["emailId".into()],
    };
    let parsed = MessageParser::default()
        .parse_headers(raw)
        .ok_or_else(|| invalid("the email's header cannot be parsed"))?;
    let first = |list: Option<&mail_parser::Address<'_>>| -> Option<Vec<String>> {
        list.map(|l| {
            l.iter()
                .filter_map(|a| a.address().map(str::to_string))
                .collect()
        })
    };
    let from = match first(parsed.sender()).filter(|v| !v.is_empty()) {
        Some(s) => s,
        None => first(parsed.from()).unwrap_or_default(),
    };
    let [mail_from] = from.as_slice() else {
        return Err(invalid(
            "the email needs exactly one Sender or From address",
        ));
    };
    let mut rcpt_to = Vec::new();
    for list in [parsed.to(), parsed.cc(), parsed.bcc()] {
        for a in first(list).unwrap_or_default() {
            if !rcpt_to
                .iter()
                .any(|r: &Address| r.email.eq_ignore_ascii_case(&a))
            {
                rcpt_to.push(Address {
                    email: a,
                    parameters: None,
                });
            }
        }
    }
    Ok(Envelope {
        mail_from: Address {
            email: mail_from.clone(),
            parameters: None,
        },
        rcpt_to,
    })
}

/// The message without its Bcc fields (RFC 5322 §3.6.3: the blind
/// recipients are not shown to the others), continuation lines included.
pub fn without_bcc(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    let mut dropping = false;
    loop {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        rest = &rest[end..];
        if line == b"\r\n" || line == b"\n" || line.is_empty() {
            // The end of the header section: the body as it is.
            out.extend_from_slice(line);
            out.extend_from_slice(rest);
            return out;
        }
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            let name_end = line.iter().position(|&b| b == b':').unwrap_or(0);
            dropping = line[..name_end].trim_ascii().eq_ignore_ascii_case(b"bcc");
        }
        if !dropping {
            out.extend_from_slice(line);
        }
        if rest.is_empty() {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcc_is_removed_with_its_continuation_lines() {
        let raw = b"From: a@x\r\nBcc: hidden@y,\r\n other@z\r\nTo: b@y\r\nbcc : more@q\r\n\r\nBcc: in the body\r\n";
        assert_eq!(
            without_bcc(raw),
            b"From: a@x\r\nTo: b@y\r\n\r\nBcc: in the body\r\n".to_vec()
        );
    }

    #[test]
    fn the_envelope_comes_from_sender_or_from_and_every_recipient_field() {
        let raw = b"From: Ann <ann@x.org>\r\nTo: b@y.org, c@y.org\r\nCc: B@y.org\r\nBcc: d@z.org\r\n\r\nhi\r\n";
        let e = derive_envelope(raw).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(e.mail_from.email, "ann@x.org");
        let to: Vec<&str> = e.rcpt_to.iter().map(|a| a.email.as_str()).collect();
        assert_eq!(to, ["b@y.org", "c@y.org", "d@z.org"]);
    }

    #[test]
    fn hold_is_bounded_by_max_delayed_send() {
        let addr = |k: &str, v: &str| Address {
            email: "a@x".into(),
            parameters: Some(Map::from_iter([(k.to_string(), json!(v))])),
        };
        assert_eq!(hold(&addr("HOLDFOR", "20"), 1000, 30).ok(), Some(1020));
        assert!(hold(&addr("HOLDFOR", "31"), 1000, 30).is_err());
        assert!(hold(&addr("SIZE", "1"), 1000, 30).is_err());
        assert_eq!(
            hold(
                &Address {
                    email: "a@x".into(),
                    parameters: None
                },
                5,
                30
            )
            .ok(),
            Some(5)
        );
    }
}
