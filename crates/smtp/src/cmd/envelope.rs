//! MAIL and RCPT (RFC 5321 §4.1.1.2-3): the transaction's sender and
//! recipients, with the extensions' parameters (SIZE RFC 1870, SMTPUTF8
//! RFC 6531, DSN RFC 3461). Submission (RFC 6409 §6.1): the sender must
//! be the user's own address; relaying needs AUTH (RFC 5321 §3.6.2).

use tidings_smtp_proto::EnhancedCode as E;
use tidings_smtp_proto::command::{MailParams, Path, RcptParams, ReversePath};
use tidings_types::AccountId;

use crate::Mode;
use crate::cmd::is_local_domain;
use crate::session::{LocalRcpt, RemoteRcpt, Session, State, Transaction, r};

/// The result of looking up a recipient.
enum Lookup {
    Local(AccountId),
    Unknown,
    Full,
    Remote,
}

impl Session {
    pub(crate) async fn mail(&mut self, from: ReversePath, params: MailParams) {
        if matches!(self.state, State::Fresh) {
            self.reply(&r(503, E(5, 5, 1), "say EHLO first"));
            return;
        }
        if matches!(self.state, State::Transaction(_)) {
            self.reply(&r(503, E(5, 5, 1), "nested MAIL command"));
            return;
        }
        if self.shared.mode == Mode::Submission && self.auth.is_none() {
            self.reply(&r(530, E(5, 7, 0), "authentication required"));
            return;
        }
        let esmtp = self.helo.as_ref().is_some_and(|h| h.esmtp);
        let uses_extensions = params != MailParams::default();
        if uses_extensions && !esmtp {
            self.reply(&r(555, E(5, 5, 4), "parameters need EHLO"));
            return;
        }
        // RFC 6531 §3.4: a UTF-8 address needs SMTPUTF8.
        if from.as_ref().is_some_and(Path::is_utf8) && !params.smtputf8 {
            self.reply(&r(553, E(5, 6, 7), "UTF-8 address without SMTPUTF8"));
            return;
        }
        // RFC 1870 §6.
        let max = self.shared.config.max_message_size;
        if params.size.is_some_and(|s| s > max) {
            self.reply(&r(
                552,
                E(5, 3, 4),
                format!("message size exceeds the limit of {max} octets"),
            ));
            return;
        }
        if let Some(auth) = &self.auth {
            // RFC 6409 §6.1: the user may send only as themselves.
            let allowed = match &from {
                None => false,
                Some(path) => self.owns_address(auth.account, &path.address()).await,
            };
            if !allowed {
                self.reply(&r(
                    550,
                    E(5, 7, 1),
                    format!("{} may not send as this address", auth.email),
                ));
                return;
            }
        }
        self.state = State::Transaction(Box::new(Transaction {
            from,
            params,
            local: Vec::new(),
            remote: Vec::new(),
            bdat: None,
        }));
        self.reply(&r(250, E(2, 1, 0), "sender OK"));
    }

    /// Whether `account` may send as `address` (the store's rule,
    /// [`tidings_store::Store::may_send_as`], shared with JMAP).
    pub(crate) async fn owns_address(&self, account: AccountId, address: &str) -> bool {
        let address = address.to_string();
        let result = self
            .blocking(move |store| store.may_send_as(account, &address))
            .await;
        matches!(result, Ok(true))
    }

    pub(crate) async fn rcpt(&mut self, to: Path, params: RcptParams) {
        let max = self.shared.config.max_recipients;
        let State::Transaction(tx) = &self.state else {
            self.reply(&r(503, E(5, 5, 1), "need MAIL before RCPT"));
            return;
        };
        if tx.bdat.is_some() {
            self.reply(&r(503, E(5, 5, 1), "RCPT not allowed during BDAT"));
            return;
        }
        if tx.recipients() >= max {
            // RFC 5321 §4.5.3.1.10.
            self.reply(&r(452, E(4, 5, 3), "too many recipients"));
            return;
        }
        if to.is_utf8() && !tx.params.smtputf8 {
            self.reply(&r(553, E(5, 6, 7), "UTF-8 address without SMTPUTF8"));
            return;
        }
        let size = tx.params.size.unwrap_or(0);
        let hostname = self.hostname().to_string();
        let address = if to.domain.is_empty() {
            // RFC 5321 §4.1.1.3: <Postmaster> is the server's postmaster.
            format!("postmaster@{hostname}")
        } else {
            to.address().to_lowercase()
        };
        let domain = address.rsplit_once('@').map(|(_, d)| d.to_string());
        let lookup = self
            .blocking(move |store| {
                let domain = domain.unwrap_or_default();
                let local = is_local_domain(store, &domain)?
                    || (domain == hostname && address.starts_with("postmaster@"));
                if !local {
                    return Ok(Lookup::Remote);
                }
                let account = match store.resolve_recipient(&address)? {
                    Some(a) => a,
                    None if address.starts_with("postmaster@") => {
                        // Any postmaster reaches the first domain's postmaster.
                        let mut found = None;
                        for d in store.domains()? {
                            if let Some(a) =
                                store.resolve_recipient(&format!("postmaster@{}", d.name))?
                            {
                                found = Some(a);
                                break;
                            }
                        }
                        match found {
                            Some(a) => a,
                            None => return Ok(Lookup::Unknown),
                        }
                    }
                    None => return Ok(Lookup::Unknown),
                };
                let full = store
                    .account_by_id(account)?
                    .and_then(|a| a.quota.map(|q| (a.used, q)))
                    .is_some_and(|(used, quota)| used.saturating_add(size) > quota);
                Ok(if full {
                    Lookup::Full
                } else {
                    Lookup::Local(account)
                })
            })
            .await;
        let State::Transaction(tx) = &mut self.state else {
            return;
        };
        match lookup {
            Ok(Lookup::Local(account)) => {
                tx.local.push(LocalRcpt {
                    path: to,
                    account,
                    params,
                });
                self.reply(&r(250, E(2, 1, 5), "recipient OK"));
            }
            Ok(Lookup::Unknown) => {
                self.reply(&r(550, E(5, 1, 1), "no such user here"));
            }
            Ok(Lookup::Full) => {
                // RFC 3463 X.2.2 mailbox full: temporary, the user may make room.
                self.reply(&r(452, E(4, 2, 2), "mailbox full"));
            }
            Ok(Lookup::Remote) if self.auth.is_some() => {
                tx.remote.push(RemoteRcpt { path: to, params });
                self.reply(&r(250, E(2, 1, 5), "recipient OK"));
            }
            Ok(Lookup::Remote) => {
                // RFC 5321 §3.6.2: no open relay.
                self.reply(&r(554, E(5, 7, 1), "relay access denied"));
            }
            Err(e) => {
                tracing::warn!("recipient lookup failed: {e}");
                self.reply(&r(451, E(4, 3, 0), "temporary failure, try again later"));
            }
        }
    }
}
