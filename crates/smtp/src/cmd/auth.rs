//! AUTH PLAIN and LOGIN (RFC 4954, RFC 4616, draft-murchison-sasl-login).
//!
//! The exchange is a state of the session ([`Sasl`]): after a 334
//! challenge the loop hands the next line to `Session::sasl_response`. A
//! refused login waits the shared limiter's delay ([`Outcome::Pause`])
//! before its 535; after `max_auth_failures` the session says 421 and
//! closes. An address over the limiter's limit is refused (454) without
//! checking.

use tidings_smtp_proto::{EnhancedCode as E, Reply, sasl};
use tidings_types::Secret;

use crate::session::{Authenticated, Outcome, Session, State, r};

/// Where an AUTH exchange is (RFC 4954 §4).
pub(crate) enum Sasl {
    /// PLAIN (RFC 4616) sent an empty challenge; the next line is the
    /// response.
    Plain,
    /// LOGIN asked for the user name, then
    LoginUser,
    /// for the password.
    LoginPassword { user: String },
    /// The credentials were refused; 535 once the delay is over.
    Refused,
}

impl Session {
    /// AUTH (RFC 4954 §4): refused unless after EHLO, outside a
    /// transaction, not yet authenticated, over TLS (or from loopback when
    /// allowed), with PLAIN or LOGIN.
    pub(crate) async fn auth(&mut self, mechanism: String, initial: Option<String>) -> Outcome {
        if self.helo.as_ref().is_none_or(|h| !h.esmtp) {
            self.reply(&r(503, E(5, 5, 1), "say EHLO first"));
        } else if self.auth.is_some() {
            self.reply(&r(503, E(5, 5, 1), "already authenticated"));
        } else if matches!(self.state, State::Transaction(_)) {
            self.reply(&r(503, E(5, 5, 1), "AUTH not allowed in a transaction"));
        } else if !self.auth_allowed() {
            // RFC 4954 §4 / RFC 3207: no password in plaintext.
            self.reply(&r(
                538,
                E(5, 7, 11),
                "encryption required: use STARTTLS first",
            ));
        } else if mechanism != "PLAIN" && mechanism != "LOGIN" {
            self.reply(&r(504, E(5, 5, 4), "unrecognized authentication mechanism"));
        } else {
            return self.authenticate(&mechanism, initial).await;
        }
        Outcome::Command
    }

    /// Whether AUTH may be used now: over TLS, or (when configured) from
    /// a loopback address.
    pub(crate) fn auth_allowed(&self) -> bool {
        self.tls
            || (self.shared.config.plaintext_auth_on_loopback
                && self.peer.ip().to_canonical().is_loopback())
    }

    /// RFC 4954 AUTH PLAIN / LOGIN, once the command was found usable:
    /// the credentials come with it or in answer to 334 challenges.
    async fn authenticate(&mut self, mechanism: &str, initial: Option<String>) -> Outcome {
        if self.shared.auth_limiter.check(self.peer.ip()).is_err() {
            self.reply(&r(
                454,
                E(4, 7, 0),
                "too many failed logins from your address, try later",
            ));
            return Outcome::Command;
        }
        match (mechanism, initial) {
            ("PLAIN", Some(response)) => self.plain(&response).await,
            ("PLAIN", None) => self.challenge(Sasl::Plain, ""),
            (_, Some(user)) => self.login_user(&user),
            (_, None) => self.challenge(Sasl::LoginUser, sasl::LOGIN_USERNAME),
        }
    }

    /// Sends `334 text`; the client's next line answers `step`.
    fn challenge(&mut self, step: Sasl, text: &str) -> Outcome {
        self.reply(&Reply::plain(334, text));
        self.state = State::Sasl(step);
        Outcome::SaslResponse
    }

    /// The client's answer to a 334 challenge; `None` for a line that was
    /// too long.
    pub(crate) async fn sasl_response(&mut self, line: Option<&[u8]>) -> Outcome {
        let State::Sasl(step) = std::mem::replace(&mut self.state, State::Ready) else {
            return Outcome::Command;
        };
        let Some(line) = line.and_then(|l| std::str::from_utf8(l).ok()) else {
            self.reply(&r(501, E(5, 5, 2), "no response"));
            return Outcome::Command;
        };
        match step {
            Sasl::Plain => self.plain(line).await,
            Sasl::LoginUser => self.login_user(line),
            Sasl::LoginPassword { user } => match sasl::decode_login(line) {
                Ok(password) => self.verify(user, Secret::new(password)).await,
                Err(e) => {
                    self.reply(&sasl_refused(e));
                    Outcome::Command
                }
            },
            Sasl::Refused => Outcome::Command,
        }
    }

    /// PLAIN's response (RFC 4616): an authorization identity other than
    /// the user's own is refused.
    async fn plain(&mut self, response: &str) -> Outcome {
        let creds = sasl::decode_response(response).and_then(|b| sasl::decode_plain(&b));
        match creds {
            Ok(c) if c.authzid.as_ref().is_none_or(|z| *z == c.authcid) => {
                self.verify(c.authcid, c.password).await
            }
            Ok(_) => {
                self.reply(&r(535, E(5, 7, 8), "authorization identity not allowed"));
                Outcome::Command
            }
            Err(e) => {
                self.reply(&sasl_refused(e));
                Outcome::Command
            }
        }
    }

    /// LOGIN's user name; the password is asked for next.
    fn login_user(&mut self, line: &str) -> Outcome {
        match sasl::decode_login(line) {
            Ok(user) => self.challenge(Sasl::LoginPassword { user }, sasl::LOGIN_PASSWORD),
            Err(e) => {
                self.reply(&sasl_refused(e));
                Outcome::Command
            }
        }
    }

    /// Checks the credentials. A failure is answered after the limiter's
    /// delay ([`Outcome::Pause`], then [`Session::resume`]).
    async fn verify(&mut self, user: String, password: Secret<String>) -> Outcome {
        let ip = self.peer.ip();
        let limiter = self.shared.auth_limiter.clone();
        if limiter.admit(ip, &user).await.is_err() {
            self.reply(&r(
                454,
                E(4, 7, 0),
                "too many failed logins from your address, try later",
            ));
            return Outcome::Command;
        }
        let login = user.clone();
        let result = self
            .blocking(move |store| {
                let Some(account) = store.authenticate(&login, &password)? else {
                    return Ok(None);
                };
                Ok(store.account_by_id(account)?.map(|a| (account, a.email)))
            })
            .await;
        match result {
            Ok(Some((account, email))) => {
                // The limiter logs the login (with the account).
                limiter.success(ip, &user);
                self.auth = Some(Authenticated { account, email });
                self.reply(&r(235, E(2, 7, 0), "authentication succeeded"));
                Outcome::Command
            }
            Ok(None) => {
                let delay = limiter.failure(ip, &user);
                self.auth_failures += 1;
                self.state = State::Sasl(Sasl::Refused);
                Outcome::Pause(delay)
            }
            Err(e) => {
                tracing::warn!("authentication error: {e}");
                self.reply(&r(454, E(4, 7, 0), "temporary authentication failure"));
                Outcome::Command
            }
        }
    }

    /// The pause asked for is over: a refused AUTH gets its 535, and the
    /// session ends after `max_auth_failures` of them.
    pub(crate) fn resume(&mut self) -> Outcome {
        if !matches!(self.state, State::Sasl(Sasl::Refused)) {
            return Outcome::Command;
        }
        self.state = State::Ready;
        self.reply(&r(535, E(5, 7, 8), "authentication credentials invalid"));
        if self.auth_failures < self.shared.config.max_auth_failures {
            return Outcome::Command;
        }
        self.reply(&r(421, E(4, 7, 0), "too many failed logins"));
        Outcome::Close
    }
}

/// The reply to a SASL response that cannot be read.
fn sasl_refused(e: sasl::SaslError) -> Reply {
    match e {
        sasl::SaslError::Cancelled => r(501, E(5, 0, 0), "authentication cancelled"),
        e => r(501, E(5, 5, 2), e.to_string()),
    }
}
