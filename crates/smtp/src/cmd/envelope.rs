//! MAIL and RCPT (RFC 5321 §4.1.1.2-3): the transaction's sender and
//! recipients, with the extensions' parameters (SIZE RFC 1870, SMTPUTF8
//! RFC 6531, DSN RFC 3461). Submission (RFC 6409 §6.1): the sender must
//! be the user's own address; relaying needs AUTH (RFC 5321 §3.6.2).

use tidings_smtp_proto::EnhancedCode as E;
use tidings_smtp_proto::command::{MailParams, Path, RcptParams, ReversePath};
use tidings_types::AccountId;

use crate::Mode;
use crate::cmd::is_local_domain;
use crate::session::{ForwardRcpt, LocalRcpt, RemoteRcpt, Session, State, Transaction, r};
use tidings_store::Expansion;

/// The result of looking up a recipient.
enum Lookup {
    Local(AccountId),
    /// An alias with several or remote targets, or a bounce to one of our
    /// SRS addresses.
    Forward {
        accounts: Vec<AccountId>,
        remote: Vec<String>,
    },
    Unknown,
    Full,
    Remote,
    BadSrs(crate::srs::SrsError),
    TooMany,
    Loop,
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
        // RFC 8689 §4.1: REQUIRETLS only over TLS (it is not offered
        // before).
        if params.requiretls && !self.tls {
            self.reply(&r(530, E(5, 7, 10), "REQUIRETLS needs TLS"));
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
            forward: Vec::new(),
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
        let srs = self.shared.srs.clone();
        let limits = self.shared.config.expansion;
        // The local part as sent: an SRS hash is base64, case matters
        // (though it is checked case-insensitively, as libsrs2 does).
        let local_part = to.local.clone();
        let lookup = self
            .blocking(move |store| {
                let domain = domain.unwrap_or_default();
                let local = is_local_domain(store, &domain)?
                    || (domain == hostname && address.starts_with("postmaster@"));
                if !local {
                    return Ok(Lookup::Remote);
                }
                // A bounce to one of our SRS addresses: before aliases, so
                // that a catch-all does not swallow it.
                let mut address = address;
                if let Some(srs) = srs.as_deref()
                    && crate::srs::Srs::is_srs(&local_part)
                {
                    let original = match srs.reverse(&local_part, crate::message::now()) {
                        Ok(a) => a,
                        Err(e) => return Ok(Lookup::BadSrs(e)),
                    };
                    let original_domain = original.rsplit_once('@').map_or("", |(_, d)| d);
                    if !is_local_domain(store, original_domain)? {
                        return Ok(Lookup::Forward {
                            accounts: Vec::new(),
                            remote: vec![original],
                        });
                    }
                    // One of ours: an SRS1 naming our SRS0, or a local sender.
                    let (orig_local, _) = original.rsplit_once('@').unwrap_or_default();
                    if crate::srs::Srs::is_srs(orig_local) {
                        return match srs.reverse(orig_local, crate::message::now()) {
                            Ok(a)
                                if !is_local_domain(
                                    store,
                                    a.rsplit_once('@').map_or("", |(_, d)| d),
                                )? =>
                            {
                                Ok(Lookup::Forward {
                                    accounts: Vec::new(),
                                    remote: vec![a],
                                })
                            }
                            Ok(_) => Ok(Lookup::Unknown),
                            Err(e) => Ok(Lookup::BadSrs(e)),
                        };
                    }
                    address = original.to_lowercase();
                }
                let account = match store.expand_recipient(&address, limits)? {
                    Expansion::Account(a) => a,
                    Expansion::Targets { accounts, remote } => {
                        return Ok(Lookup::Forward { accounts, remote });
                    }
                    Expansion::TooMany => return Ok(Lookup::TooMany),
                    Expansion::Loop => return Ok(Lookup::Loop),
                    Expansion::Unknown if address.starts_with("postmaster@") => {
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
                    Expansion::Unknown => return Ok(Lookup::Unknown),
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
            Ok(Lookup::Forward { accounts, remote }) => {
                let alias = to.address().to_lowercase();
                for account in accounts {
                    tx.local.push(LocalRcpt {
                        path: to.clone(),
                        account,
                        params: params.clone(),
                    });
                }
                if !remote.is_empty() {
                    tx.forward.push(ForwardRcpt {
                        alias,
                        targets: remote,
                    });
                }
                self.reply(&r(250, E(2, 1, 5), "recipient OK"));
            }
            Ok(Lookup::BadSrs(e)) => {
                // Only a bounce we caused may use our SRS addresses.
                self.reply(&r(
                    550,
                    E(5, 7, 1),
                    format!("{e}: not a bounce to mail we forwarded"),
                ));
            }
            Ok(Lookup::TooMany) => {
                let max = limits.max_recipients;
                self.reply(&r(
                    550,
                    E(5, 5, 3),
                    format!("this alias expands to more than {max} recipients"),
                ));
            }
            Ok(Lookup::Loop) => {
                // RFC 3463 X.4.6: routing loop detected.
                self.reply(&r(
                    550,
                    E(5, 4, 6),
                    "alias loop: nested too deep or leading back to itself",
                ));
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
