//! A complete message, from its spool to the store: the checks (the
//! originator rules and sending limits of submission, SPF/DKIM/DMARC
//! inbound), the added header fields (Received, Authentication-Results,
//! DKIM-Signature, Date and Message-ID for submission), storage for the
//! local recipients in one transaction (`deliver_local`), the queue for
//! the remote ones (`queue_remote`), and the delivery reports (RFC 3461 /
//! RFC 3464) this session owes the sender.
//!
//! The reply is 250 only once every accepted recipient has the message
//! durably (fsynced and committed, or queued).

use std::collections::HashSet;
use std::io;
use std::sync::Arc;

use tidings_smtp_proto::command::Path;
use tidings_smtp_proto::{EnhancedCode as E, Reply};
use tidings_store::{Recipient, Spooled, StoreError};
use tidings_types::{AccountId, MailboxRole};

use crate::cmd::body::spool_failed;
use crate::cmd::is_local_domain;
use crate::message;
use crate::session::{LocalRcpt, Session, Transaction, r};

/// The longest header section accepted (552 5.3.4 beyond): it is the part
/// of a message the session reads into memory to check and rewrite.
const HEADER_MAX: usize = 1024 * 1024;

/// Runs blocking file work (a spooled body) off the async workers.
async fn blocking_io<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// `head` then the spooled `body` after its first `skip` octets, whole in
/// memory, with its share of the store's memory budget (held until the
/// permit is dropped). Blocks while the budget is taken.
fn whole_message(
    head: &[u8],
    body: &Spooled,
    skip: u64,
) -> io::Result<(Vec<u8>, tidings_store::spool::Permit)> {
    let len = head.len() as u64 + body.len().saturating_sub(skip);
    let permit = tidings_store::memory_budget().acquire(len);
    let mut raw = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    raw.extend_from_slice(head);
    let mut reader = body.reader()?;
    io::copy(&mut io::Read::take(&mut reader, skip), &mut io::sink())?;
    io::Read::read_to_end(&mut reader, &mut raw)?;
    Ok((raw, permit))
}

/// RFC 3463 X.4.6 "routing loop detected".
fn loop_reply(address: &str) -> Reply {
    r(
        554,
        E(5, 4, 6),
        format!("mail forwarding loop for {address}"),
    )
}

/// The address for the shared copy's `Delivered-To:`: the one local
/// address of the transaction (several accounts behind one alias count as
/// one), none when there are several or the copy also goes out to remote
/// recipients of a submission.
fn delivered_to_field(tx: &Transaction) -> Option<String> {
    if !tx.remote.is_empty() {
        return None;
    }
    let mut addresses = tx
        .local
        .iter()
        .map(|l| l.path.address().to_lowercase())
        .chain(tx.forward.iter().map(|f| f.alias.clone()));
    let first = addresses.next()?;
    addresses.all(|a| a == first).then_some(first)
}

impl Session {
    /// A complete message: checks, headers, storage. The reply is 250 only
    /// when every accepted recipient has it durably.
    ///
    /// The body stays spooled: the checks read its header section (at most
    /// [`HEADER_MAX`] octets); only DKIM signing and verification load it
    /// whole, under the store's memory budget. The stored message is the
    /// new header lines and the (possibly rewritten) header section, then
    /// the body copied from the spool into a new spool a piece at a time.
    pub(crate) async fn accept(&mut self, mut tx: Transaction, body: Spooled) -> Reply {
        let now = message::now();
        // The header fields added above the message, in order.
        let mut added = String::new();
        let mut role = MailboxRole::Inbox;
        let (body, prefix) = match blocking_io(move || {
            let prefix = body.read_prefix(HEADER_MAX as u64 + 2)?;
            Ok((body, prefix))
        })
        .await
        {
            Ok(b) => b,
            Err(e) => return spool_failed(&e),
        };
        let header_len = message::header_section(&prefix).len();
        if header_len == prefix.len() && body.len() > prefix.len() as u64 {
            // Like Postfix's header_size_limit, but refused rather than
            // cut: a header section this long is not mail (RFC 5322 §2.1.1
            // puts lines at 998 characters; no MUA writes a megabyte).
            return r(
                552,
                E(5, 3, 4),
                format!("header section longer than {HEADER_MAX} octets"),
            );
        }
        // The header section as stored; the body after it stays spooled.
        let mut header = prefix;
        header.truncate(header_len);
        let looped = match self.refuse_loops(&mut tx, &header) {
            Ok(looped) => looped,
            Err(reply) => return reply,
        };
        let mut body = body;
        if let Some(auth) = &self.auth {
            // RFC 6409 §6.1 for the originator fields (From, Sender and
            // their Resent- forms, read as a mail reader reads them), §8.1-8.3
            // for Date and Message-ID.
            let originators = match message::originators(&header) {
                Ok(o) => o,
                Err(e) => return r(550, E(5, 6, 0), e.to_string()),
            };
            let from = originators.from;
            for address in &originators.all {
                if !self.owns_address(auth.account, address).await {
                    return r(
                        550,
                        E(5, 7, 1),
                        format!("{} may not send as {address}", auth.email),
                    );
                }
            }
            // The account's sending limits, counted last so that a refused
            // message does not count.
            let (account, limits) = (auth.account, self.shared.config.send_limits);
            let check = self
                .blocking(move |store| store.reserve_send(account, now, limits))
                .await;
            match check {
                Ok(tidings_store::SendCheck::Allowed) => {}
                Ok(tidings_store::SendCheck::OverHour { limit }) => {
                    tracing::warn!(account = %auth.email, limit, "hourly sending limit reached");
                    return r(
                        451,
                        E(4, 7, 1),
                        format!(
                            "{} sent {limit} messages in the last hour, the limit; try later",
                            auth.email
                        ),
                    );
                }
                Ok(tidings_store::SendCheck::OverDay { limit }) => {
                    tracing::warn!(account = %auth.email, limit, "daily sending limit reached");
                    return r(
                        550,
                        E(5, 7, 1),
                        format!(
                            "{} sent {limit} messages in the last 24 hours, the limit",
                            auth.email
                        ),
                    );
                }
                Err(e) => {
                    tracing::warn!("cannot count the sending limit: {e}");
                    return r(451, E(4, 3, 0), "temporary failure, try again later");
                }
            }
            let mut prefix = String::new();
            if !message::has_header(&header, "Date") {
                prefix.push_str(&format!("Date: {}\r\n", message::rfc5322_date(now)));
            }
            if !message::has_header(&header, "Message-ID") {
                prefix.push_str(&format!(
                    "Message-ID: <{}@{}>\r\n",
                    message::random_hex(16),
                    self.hostname()
                ));
            }
            if !prefix.is_empty() {
                let mut with = prefix.into_bytes();
                with.append(&mut header);
                header = with;
            }
            // RFC 6376: signed as the From: domain, which the user owns.
            if let (Some(key), Some(domain)) = (
                &self.shared.dkim,
                from.first()
                    .and_then(|a| a.rsplit_once('@'))
                    .map(|(_, d)| d.to_string()),
            ) {
                let key = Arc::clone(key);
                let head = header.clone();
                let signed = tokio::task::spawn_blocking(move || {
                    let whole = whole_message(&head, &body, header_len as u64)
                        .map(|(raw, _permit)| key.sign(&domain, &raw));
                    (whole, body)
                })
                .await;
                match signed {
                    Ok((Ok(Ok(sig)), b)) => {
                        added.push_str(&sig);
                        body = b;
                    }
                    Ok((Ok(Err(e)), b)) => {
                        tracing::warn!("DKIM signing failed: {e}");
                        body = b;
                    }
                    Ok((Err(e), _)) => return spool_failed(&e),
                    Err(e) => {
                        tracing::warn!("DKIM signing failed: {e}");
                        return r(451, E(4, 3, 0), "temporary failure, try again later");
                    }
                }
            }
        } else if let Some(authenticator) = &self.shared.authenticator {
            // Inbound: SPF, DKIM, DMARC (RFC 8601 Authentication-Results),
            // after removing fields that pretend to be ours (§5).
            header = message::strip_authentication_results(header, self.hostname());
            let helo = self.helo.as_ref().map_or("unknown", |h| h.name.as_str());
            let sender = tx.from.as_ref().map(Path::address).unwrap_or_default();
            let checker = crate::auth::Checker {
                authenticator,
                cache: &self.shared.txt_cache,
                budget: self.shared.config.dns.budget,
            };
            // The whole message, under the memory budget while it is checked.
            let head = header.clone();
            let loaded = blocking_io(move || {
                let (raw, permit) = whole_message(&head, &body, header_len as u64)?;
                Ok((raw, permit, body))
            })
            .await;
            let (raw, permit, b) = match loaded {
                Ok(l) => l,
                Err(e) => return spool_failed(&e),
            };
            body = b;
            let (results, verdict, evaluation) = crate::auth::evaluate(
                &checker,
                self.hostname(),
                self.peer.ip().to_canonical(),
                helo,
                &sender,
                &raw,
            )
            .await;
            drop(raw);
            drop(permit);
            if let Some(e) = evaluation {
                // RFC 7489 §7.2: counted for the author domain's aggregate
                // report; a store error costs a report row, not the mail.
                let row = tidings_store::DmarcResult {
                    day: now.div_euclid(86_400),
                    domain: e.header_from,
                    policy: e.policy,
                    rua: e.rua.join(" "),
                    source_ip: self.peer.ip().to_canonical().to_string(),
                    disposition: e.disposition.to_string(),
                    dkim_aligned: e.dkim_aligned,
                    spf_aligned: e.spf_aligned,
                    envelope_from: e.envelope_from,
                    dkim_domain: e.dkim_domain,
                    dkim_result: e.dkim_result,
                    spf_domain: e.spf_domain,
                    spf_result: e.spf_result,
                };
                let store = self.shared.store.clone();
                if let Err(e) = blocking_io(move || {
                    store
                        .dmarc_result_add(&row)
                        .map_err(|e| io::Error::other(e.to_string()))
                })
                .await
                {
                    tracing::warn!("cannot count a DMARC evaluation: {e}");
                }
            }
            match verdict {
                crate::auth::Verdict::Reject(why) => {
                    tracing::info!("refused by DMARC: {why}");
                    return r(550, E(5, 7, 1), why);
                }
                crate::auth::Verdict::Junk => role = MailboxRole::Junk,
                crate::auth::Verdict::Deliver => {}
            }
            added.push_str(&results);
        } else {
            // No resolver: nothing could be checked, and the field says so
            // (RFC 8601 §2.2 `no-result`) rather than leaving it out, which
            // would look the same as a server that does not check at all.
            header = message::strip_authentication_results(header, self.hostname());
            added.push_str(&format!(
                "Authentication-Results: {}; none (no DNS resolver: SPF, DKIM and DMARC not checked)\r\n",
                self.hostname()
            ));
        }
        self.messages += 1;
        let queue_id = format!("{:x}{:x}{}", self.id, self.messages, message::random_hex(2));
        let received = self.received_field(&tx, &queue_id, now);
        // Delivered-To (as Postfix's local delivery adds it) names the one
        // address of ours the message came for; with several it is left
        // out of the shared copy (one address would be wrong for the
        // others, and all of them would show each one its Bcc'd peers),
        // and each forwarded copy gets its own.
        let delivered_to = delivered_to_field(&tx);
        let delivered = delivered_to
            .as_ref()
            .map(|a| format!("Delivered-To: {a}\r\n"))
            .unwrap_or_default();
        // The header section as stored: trace fields, ours, the client's.
        let mut head =
            Vec::with_capacity(delivered.len() + received.len() + added.len() + header.len());
        head.extend_from_slice(delivered.as_bytes());
        head.extend_from_slice(received.as_bytes());
        head.extend_from_slice(added.as_bytes());
        head.extend_from_slice(&header);
        let mut spool = self.shared.store.spool();
        let composed = blocking_io(move || {
            spool.write(&head)?;
            let mut reader = body.reader()?;
            io::copy(
                &mut io::Read::take(&mut reader, header_len as u64),
                &mut io::sink(),
            )?;
            spool.write_from(&mut reader)?;
            drop(reader);
            drop(body);
            Ok((spool.finish()?, head))
        })
        .await;
        let (full, head) = match composed {
            Ok((full, head)) => (Arc::new(full), head),
            Err(e) => return spool_failed(&e),
        };

        let looped_report = (!looped.is_empty()).then(|| head.clone());
        // Local copies first, then the queue: a failure to queue after the
        // local copies are stored asks the client to send again, which may
        // duplicate them (never lose).
        let mut reply = None;
        if !tx.local.is_empty() {
            let local = self
                .deliver_local(&tx, full.clone(), head, now, &queue_id, role)
                .await;
            if !local.is_positive() {
                return local;
            }
            reply = Some(local);
        }
        if !tx.remote.is_empty() {
            let queued = self.queue_remote(&tx, full.clone(), &queue_id).await;
            if !queued.is_positive() {
                return queued;
            }
            reply.get_or_insert(queued);
        }
        if !tx.forward.is_empty() {
            let forwarded = self
                .queue_forwards(&tx, full, delivered_to, now, &queue_id)
                .await;
            if !forwarded.is_positive() {
                return forwarded;
            }
            reply.get_or_insert(forwarded);
        }
        if let Some(headers) = looped_report {
            let refused: Vec<(String, Reply)> =
                looped.iter().map(|a| (a.clone(), loop_reply(a))).collect();
            self.report_failures(&tx, &refused, &headers).await;
        }
        reply.unwrap_or_else(|| r(250, E(2, 0, 0), format!("OK: queued as {queue_id}")))
    }

    /// Loop detection (RFC 5321 §6.3): a message with more than
    /// `max_hops` `Received:` fields is refused whole; a recipient whose
    /// address the message already names in a `Delivered-To:` (ours, from
    /// an earlier pass) is taken out of the transaction. `Err` is the
    /// reply refusing the message (every recipient looped); `Ok` the
    /// addresses taken out, owed a failure report once the rest is
    /// delivered.
    fn refuse_loops(&self, tx: &mut Transaction, header: &[u8]) -> Result<Vec<String>, Reply> {
        let (hops, delivered_to) = message::trace_fields(header);
        let max = self.shared.config.max_hops;
        if hops > max {
            tracing::info!(hops, "refused: too many hops");
            return Err(r(
                554,
                E(5, 4, 6),
                format!("too many hops ({hops} Received: fields, the limit is {max}): mail loop"),
            ));
        }
        if delivered_to.is_empty() {
            return Ok(Vec::new());
        }
        let mut looped: Vec<String> = Vec::new();
        let addresses = tx
            .local
            .iter()
            .map(|l| l.path.address().to_lowercase())
            .chain(tx.forward.iter().map(|f| f.alias.clone()));
        for a in addresses {
            if delivered_to.contains(&a) && !looped.contains(&a) {
                looped.push(a);
            }
        }
        if looped.is_empty() {
            return Ok(looped);
        }
        tracing::info!(recipients = ?looped, "refused: mail forwarding loop");
        tx.local
            .retain(|l| !looped.contains(&l.path.address().to_lowercase()));
        tx.forward.retain(|f| !looped.contains(&f.alias));
        if tx.recipients() == 0 {
            return Err(loop_reply(&looped[0]));
        }
        Ok(looped)
    }

    /// Queues one copy per forwarding address (an alias with remote
    /// targets, or a bounce to our SRS address): with a `Delivered-To:`
    /// naming it (unless the shared copy already has that one), from the
    /// sender rewritten by SRS into the alias's domain, so that SPF passes
    /// at the next hop. The null reverse-path stays null (RFC 5321
    /// §4.5.5), and a sender in a local domain is kept as it is.
    async fn queue_forwards(
        &self,
        tx: &Transaction,
        full: Arc<Spooled>,
        in_full: Option<String>,
        now: i64,
        queue_id: &str,
    ) -> Reply {
        let sender = tx.from.as_ref().map(Path::address);
        let srs = self.shared.srs.clone();
        let hostname = self.hostname().to_string();
        let copies: Vec<(String, String, Vec<String>)> = tx
            .forward
            .iter()
            .map(|f| {
                let prefix = if in_full.as_deref() == Some(f.alias.as_str()) {
                    String::new()
                } else {
                    format!("Delivered-To: {}\r\n", f.alias)
                };
                let domain = f
                    .alias
                    .rsplit_once('@')
                    .map_or(hostname.clone(), |(_, d)| d.to_string());
                (prefix, domain, f.targets.clone())
            })
            .collect();
        let (envid, ret, requiretls) =
            (tx.params.envid.clone(), tx.params.ret, tx.params.requiretls);
        let result = self
            .blocking(move |store| {
                let raw = full.load(1)?;
                let mut ids = Vec::with_capacity(copies.len());
                for (prefix, domain, targets) in &copies {
                    let sender = match (&sender, &srs) {
                        (None, _) => String::new(),
                        (Some(s), Some(srs)) => {
                            let own = s
                                .rsplit_once('@')
                                .map(|(_, d)| is_local_domain(store, d))
                                .transpose()?
                                .unwrap_or(false);
                            if own {
                                s.clone()
                            } else {
                                srs.forward(s, domain, now)
                            }
                        }
                        (Some(s), None) => s.clone(),
                    };
                    let mut copy = Vec::with_capacity(prefix.len() + raw.len());
                    copy.extend_from_slice(prefix.as_bytes());
                    copy.extend_from_slice(&raw);
                    ids.push(
                        store.queue_add(&tidings_store::NewQueued {
                            raw: &copy,
                            sender,
                            account: None,
                            recipients: targets
                                .iter()
                                .map(|t| tidings_store::QueueRecipient::new(t.clone()))
                                .collect(),
                            envid: envid.clone(),
                            ret_hdrs: ret == Some(tidings_smtp_proto::Ret::Hdrs),
                            ret_full: ret == Some(tidings_smtp_proto::Ret::Full),
                            requiretls,
                        })?,
                    );
                }
                Ok(ids)
            })
            .await;
        match result {
            Ok(ids) => {
                tracing::info!(id = queue_id, queued = ?ids, "queued for forwarding");
                self.shared.outbound.kick();
                r(250, E(2, 0, 0), format!("OK: queued as {queue_id}"))
            }
            Err(e) => {
                tracing::warn!(id = queue_id, "cannot queue for forwarding: {e}");
                r(451, E(4, 3, 0), "temporary failure, try again later")
            }
        }
    }

    /// Queues the message for the remote recipients (durably) and wakes
    /// the delivery worker.
    ///
    /// The queue keeps its messages in its database rows as before: the
    /// message is loaded whole for that, under the memory budget.
    async fn queue_remote(&self, tx: &Transaction, full: Arc<Spooled>, queue_id: &str) -> Reply {
        let item = tidings_store::NewQueued {
            raw: &[],
            sender: tx.from.as_ref().map(Path::address).unwrap_or_default(),
            account: self.auth.as_ref().map(|a| a.account),
            recipients: tx
                .remote
                .iter()
                .map(|r| {
                    let mut q = tidings_store::QueueRecipient::new(r.path.address());
                    if let Some(n) = r.params.notify {
                        let mut words = Vec::new();
                        for (on, word) in [
                            (n.never, "NEVER"),
                            (n.success, "SUCCESS"),
                            (n.failure, "FAILURE"),
                            (n.delay, "DELAY"),
                        ] {
                            if on {
                                words.push(word);
                            }
                        }
                        q.notify = words.join(",");
                    }
                    q.orcpt = r.params.orcpt.clone();
                    q
                })
                .collect(),
            envid: tx.params.envid.clone(),
            ret_hdrs: tx.params.ret == Some(tidings_smtp_proto::Ret::Hdrs),
            ret_full: tx.params.ret == Some(tidings_smtp_proto::Ret::Full),
            requiretls: tx.params.requiretls,
        };
        let result = self
            .blocking(move |store| {
                let raw = full.load(1)?;
                let item = tidings_store::NewQueued { raw: &raw, ..item };
                store.queue_add(&item)
            })
            .await;
        match result {
            Ok(id) => {
                tracing::info!(id = queue_id, queued = %id, recipients = tx.remote.len(), "queued for remote delivery");
                self.shared.outbound.kick();
                r(250, E(2, 0, 0), format!("OK: queued as {queue_id} ({id})"))
            }
            Err(e) => {
                tracing::warn!(id = queue_id, "cannot queue: {e}");
                r(451, E(4, 3, 0), "temporary failure, try again later")
            }
        }
    }

    /// RFC 5321 §4.4 trace field, with RFC 3848 protocol types.
    fn received_field(&self, tx: &Transaction, id: &str, now: i64) -> String {
        let helo = self.helo.as_ref().map_or("unknown", |h| h.name.as_str());
        let esmtp = self.helo.as_ref().is_some_and(|h| h.esmtp);
        // RFC 3848 and RFC 6531 §3.7.3 protocol types.
        let base = match (tx.params.smtputf8, esmtp) {
            (_, false) => "SMTP",
            (true, true) => "UTF8SMTP",
            (false, true) => "ESMTP",
        };
        let suffix = match (esmtp, self.tls, self.auth.is_some()) {
            (false, _, _) | (true, false, false) => "",
            (true, true, false) => "S",
            (true, false, true) => "A",
            (true, true, true) => "SA",
        };
        let with = format!("{base}{suffix}");
        let for_clause = match (tx.local.len() + tx.remote.len(), tx.local.first()) {
            (1, Some(rcpt)) => format!("\r\n\tfor <{}>", rcpt.path),
            _ => String::new(),
        };
        let helo: String = helo
            .chars()
            .filter(|c| !c.is_control() && *c != '(' && *c != ')')
            .collect();
        format!(
            "Received: from {helo} ([{}])\r\n\tby {} (Tidings) with {with} id {id}{for_clause};\r\n\t{}\r\n",
            self.peer.ip().to_canonical(),
            self.hostname(),
            message::rfc5322_date(now)
        )
    }

    async fn deliver_local(
        &mut self,
        tx: &Transaction,
        full: Arc<Spooled>,
        head: Vec<u8>,
        now: i64,
        queue_id: &str,
        role: MailboxRole,
    ) -> Reply {
        let mut accounts: Vec<AccountId> = Vec::new();
        let mut seen = HashSet::new();
        for rcpt in &tx.local {
            if seen.insert(rcpt.account) {
                accounts.push(rcpt.account);
            }
        }
        let size = full.len();
        let order = accounts.clone();
        // The stored message's header section is `head`.
        let headers = head;
        // RFC 3461 NOTIFY=SUCCESS: a report once the copies are stored,
        // with the message itself only for RET=FULL (§4.3). Only for an
        // authenticated sender: anyone can put any address in MAIL FROM on
        // the MX port, and a report to it would be backscatter: mail with
        // content of the client's choosing sent to an address of its
        // choosing. Only a failure is owed to the sender (RFC 5321 §6.1).
        let wants_success = self.auth.is_some()
            && tx.from.is_some()
            && tx
                .local
                .iter()
                .any(|l| l.params.notify.is_some_and(|n| n.success));
        let return_full = wants_success && tx.params.ret == Some(tidings_smtp_proto::Ret::Full);
        // The vacation responder's inputs (RFC 3834), used once stored.
        let responder = crate::submit::Submitter::new(
            self.shared.store.clone(),
            self.hostname().to_string(),
            self.shared.dkim.clone(),
            self.shared.config.send_limits,
            self.shared.outbound.clone(),
        );
        let sender = tx.from.as_ref().map(Path::address).unwrap_or_default();
        let period =
            i64::try_from(self.shared.config.vacation_period.as_secs()).unwrap_or(i64::MAX);
        let answered = headers.clone();
        let result = self
            .blocking(move |store| {
                let mut recipients = Vec::with_capacity(accounts.len());
                for account in &accounts {
                    // Junk when DMARC says quarantine; INBOX if there is no Junk.
                    let inbox = match store.mailbox_by_role(*account, role)? {
                        Some(m) => m,
                        None => store
                            .mailbox_by_role(*account, MailboxRole::Inbox)?
                            .ok_or_else(|| StoreError::NotFound("INBOX".into()))?,
                    };
                    recipients.push(Recipient {
                        account: *account,
                        mailbox: inbox.id,
                        keywords: Vec::new(),
                    });
                }
                let quotas: Vec<Option<u64>> = accounts
                    .iter()
                    .map(|a| store.account_by_id(*a).ok().flatten().and_then(|a| a.quota))
                    .collect();
                let results = store.deliver_spooled(&full, Some(now), &recipients)?;
                // Committed: the vacation responses owed (not for mail
                // filed as junk).
                if role != MailboxRole::Junk {
                    for (account, result) in accounts.iter().zip(&results) {
                        if result.is_err() {
                            continue;
                        }
                        match crate::vacation::respond(
                            &responder, store, *account, &sender, &answered, now, period,
                        ) {
                            Ok(Some(id)) => {
                                tracing::info!(%account, queued = %id, "vacation reply")
                            }
                            Ok(None) => {}
                            Err(e) => tracing::warn!(%account, "no vacation reply: {e}"),
                        }
                    }
                }
                // RET=FULL returns the whole message (rare: loaded then).
                let returned = if return_full {
                    Some(full.load(1)?.into_vec())
                } else {
                    None
                };
                Ok((results, quotas, returned))
            })
            .await;
        match result {
            Ok((results, quotas, returned)) => {
                let returned = returned.as_deref().unwrap_or(&headers);
                let failed: Vec<(usize, &StoreError)> = results
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
                    .collect();
                if wants_success {
                    let delivered: Vec<&LocalRcpt> = tx
                        .local
                        .iter()
                        .filter(|l| l.params.notify.is_some_and(|n| n.success))
                        .filter(|l| {
                            order
                                .iter()
                                .position(|a| *a == l.account)
                                .and_then(|i| results.get(i))
                                .is_some_and(Result::is_ok)
                        })
                        .collect();
                    if !delivered.is_empty() {
                        self.report_delivered(tx, &delivered, returned).await;
                    }
                }
                if failed.is_empty() {
                    tracing::info!(id = queue_id, size, recipients = results.len(), "delivered");
                    return r(250, E(2, 0, 0), format!("OK: queued as {queue_id}"));
                }
                for (i, e) in &failed {
                    tracing::info!(id = queue_id, recipient = i, "not delivered: {e}");
                }
                if failed.len() < results.len() {
                    // Some have it: the message is accepted (DATA has one
                    // reply for all recipients, RFC 5321 §3.3), and the
                    // sender is told about the others (§6.1).
                    let mut refused = Vec::new();
                    for (i, e) in &failed {
                        let reply = match e {
                            StoreError::OverQuota { .. } => r(552, E(5, 2, 2), "mailbox full"),
                            _ => r(451, E(4, 3, 0), "temporary failure in the mail store"),
                        };
                        // RFC 3461 §4.1: no failure report for a
                        // recipient whose NOTIFY leaves failures out.
                        for rcpt in tx
                            .local
                            .iter()
                            .filter(|l| Some(&l.account) == order.get(*i))
                            .filter(|l| l.params.notify.is_none_or(|n| n.failure))
                        {
                            refused.push((rcpt.path.address(), reply.clone()));
                        }
                    }
                    if !refused.is_empty() {
                        self.report_failures(tx, &refused, &headers).await;
                    }
                    return r(
                        250,
                        E(2, 0, 0),
                        format!("OK: queued as {queue_id} (some recipients refused it)"),
                    );
                }
                let (i, e) = failed[0];
                match e {
                    StoreError::OverQuota { .. } => {
                        let never_fits = quotas.get(i).copied().flatten().is_some_and(|q| size > q);
                        if never_fits {
                            r(
                                552,
                                E(5, 2, 2),
                                "mailbox full: message larger than the quota",
                            )
                        } else {
                            r(452, E(4, 2, 2), "mailbox full")
                        }
                    }
                    e if e.is_temporary() => {
                        r(451, E(4, 3, 0), "temporary failure, try again later")
                    }
                    _ => r(554, E(5, 3, 0), "message refused by the store"),
                }
            }
            Err(e) => {
                tracing::warn!(id = queue_id, "delivery failed: {e}");
                if e.is_temporary() || matches!(e, StoreError::DiskFull) {
                    r(451, E(4, 3, 0), "temporary failure, try again later")
                } else {
                    r(554, E(5, 3, 0), "message refused by the store")
                }
            }
        }
    }

    /// Tells the envelope sender that `refused` did not get a message that
    /// was otherwise accepted: an RFC 3464 report with the message's
    /// header section, into a local sender's INBOX or queued (with the
    /// null sender, RFC 5321 §4.5.5) to a remote one. Nothing for a
    /// message that itself had the null sender. This is the one report an
    /// unauthenticated sender can get (RFC 5321 §6.1: the server took
    /// responsibility for the message), and never with the message's
    /// content, whatever RET asked: only the header section goes back.
    async fn report_failures(&self, tx: &Transaction, refused: &[(String, Reply)], headers: &[u8]) {
        let Some(sender) = tx.from.as_ref().map(Path::address) else {
            return;
        };
        let item = tidings_store::QueuedMessage {
            id: tidings_store::QueueId(0),
            sender: sender.clone(),
            account: None,
            recipients: refused
                .iter()
                .map(|(a, _)| tidings_store::QueueRecipient::new(a.clone()))
                .collect(),
            envid: tx.params.envid.clone(),
            ret_hdrs: true,
            ret_full: false,
            requiretls: tx.params.requiretls,
            size: headers.len() as u64,
            created: message::now(),
            next_attempt: 0,
            attempts: 0,
        };
        let failed: Vec<(usize, Reply, Option<String>)> = refused
            .iter()
            .enumerate()
            .map(|(i, (_, reply))| (i, reply.clone(), Some(self.hostname().to_string())))
            .collect();
        let report =
            crate::outbound::delivery_report(self.hostname(), &item, headers, &failed, false);
        self.send_report(sender, report).await;
    }

    /// Tells the envelope sender that `delivered` got the message (RFC 3461
    /// NOTIFY=SUCCESS): an RFC 3464 "delivered" report with the header
    /// section, or the message for RET=FULL (`returned`).
    async fn report_delivered(&self, tx: &Transaction, delivered: &[&LocalRcpt], returned: &[u8]) {
        let Some(sender) = tx.from.as_ref().map(Path::address) else {
            return;
        };
        let item = tidings_store::QueuedMessage {
            id: tidings_store::QueueId(0),
            sender: sender.clone(),
            account: None,
            recipients: delivered
                .iter()
                .map(|l| {
                    let mut q = tidings_store::QueueRecipient::new(l.path.address());
                    q.orcpt = l.params.orcpt.clone();
                    q
                })
                .collect(),
            envid: tx.params.envid.clone(),
            ret_hdrs: tx.params.ret != Some(tidings_smtp_proto::Ret::Full),
            ret_full: tx.params.ret == Some(tidings_smtp_proto::Ret::Full),
            requiretls: tx.params.requiretls,
            size: returned.len() as u64,
            created: message::now(),
            next_attempt: 0,
            attempts: 0,
        };
        let ok = r(250, E(2, 0, 0), "delivered to the mailbox");
        let rcpts: Vec<(usize, Reply, Option<String>)> = (0..delivered.len())
            .map(|i| (i, ok.clone(), Some(self.hostname().to_string())))
            .collect();
        let report = crate::outbound::status_report(
            self.hostname(),
            &item,
            returned,
            &rcpts,
            crate::outbound::Action::Delivered,
            false,
            None,
        );
        self.send_report(sender, report).await;
    }

    /// Delivers a report to `sender`: into a local sender's INBOX, else
    /// queued with the null reverse-path (RFC 5321 §4.5.5).
    async fn send_report(&self, sender: String, report: Vec<u8>) {
        let result = self
            .blocking(move |store| {
                let local = match sender.rsplit_once('@') {
                    Some((_, domain)) if is_local_domain(store, domain)? => {
                        store.resolve_recipient(&sender)?
                    }
                    _ => None,
                };
                if let Some(account) = local {
                    let inbox = store
                        .mailbox_by_role(account, MailboxRole::Inbox)?
                        .ok_or_else(|| StoreError::NotFound("INBOX".into()))?;
                    let recipient = Recipient {
                        account,
                        mailbox: inbox.id,
                        keywords: Vec::new(),
                    };
                    store.deliver(&report, None, &[recipient])?;
                    return Ok(false);
                }
                store.queue_add(&tidings_store::NewQueued {
                    raw: &report,
                    sender: String::new(),
                    account: None,
                    recipients: vec![tidings_store::QueueRecipient::new(sender.clone())],
                    envid: None,
                    ret_hdrs: false,
                    ret_full: false,
                    requiretls: false,
                })?;
                Ok(true)
            })
            .await;
        match result {
            Ok(true) => self.shared.outbound.kick(),
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot report refused recipients to the sender: {e}"),
        }
    }
}
