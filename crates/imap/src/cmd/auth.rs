//! Authentication (RFC 9051 §6.2): STARTTLS, LOGIN, AUTHENTICATE PLAIN and
//! LOGIN (RFC 4616, draft-murchison-sasl-login), and the shared check of
//! credentials with the login limiter.

use tidings_imap_proto::{Code, Continue, SaslResponse, Status, Tag, parse_sasl_response};
use tidings_types::Secret;

use crate::session::{Outcome, SaslStep, Session, State, store_error};

impl Session {
    /// RFC 9051 §6.2.1: the loop runs the handshake once the OK is written.
    pub(crate) fn starttls(&mut self, tag: &Tag) -> Outcome {
        if !self.starttls || self.tls() {
            self.put(Status::bad(tag, "STARTTLS is not available here"));
            return Outcome::Continue;
        }
        self.put(Status::ok(tag, "Begin TLS negotiation now"));
        Outcome::StartTls
    }

    pub(crate) async fn login(
        &mut self,
        tag: &Tag,
        username: String,
        password: Secret<String>,
    ) -> Outcome {
        if !self.plaintext_ok() {
            self.put(
                Status::no(tag, "LOGIN is disabled before TLS; use STARTTLS")
                    .with_code(Code::PrivacyRequired),
            );
            return Outcome::Continue;
        }
        self.check_credentials(tag, username, password, "LOGIN")
            .await
    }

    /// RFC 9051 §6.2.2 AUTHENTICATE: with an initial response (SASL-IR,
    /// RFC 4959) PLAIN completes at once; otherwise a challenge is sent
    /// and the session waits in [`State::Authenticating`].
    pub(crate) async fn authenticate(
        &mut self,
        tag: &Tag,
        mechanism: &str,
        initial: Option<Secret<Vec<u8>>>,
    ) -> Outcome {
        if mechanism != "PLAIN" && mechanism != "LOGIN" {
            self.put(
                Status::no(tag, "Unsupported authentication mechanism").with_code(Code::Cannot),
            );
            return Outcome::Continue;
        }
        if !self.plaintext_ok() {
            self.put(
                Status::no(tag, "Authentication is disabled before TLS; use STARTTLS")
                    .with_code(Code::PrivacyRequired),
            );
            return Outcome::Continue;
        }
        if mechanism == "LOGIN" {
            // draft-murchison-sasl-login: "Username:", then "Password:";
            // an initial response is the user name.
            match initial {
                Some(user) => {
                    self.challenge(tag, SaslStep::LoginPassword { user }, b"Password:");
                }
                None => self.challenge(tag, SaslStep::LoginUser, b"Username:"),
            }
            return Outcome::Continue;
        }
        match initial {
            Some(data) => self.plain(tag, data).await,
            None => {
                self.challenge(tag, SaslStep::Plain, b"");
                Outcome::Continue
            }
        }
    }

    /// Sends a SASL challenge; the next line is its answer.
    fn challenge(&mut self, tag: &Tag, step: SaslStep, text: &[u8]) {
        let failures = match self.state {
            State::NotAuthenticated { failures } | State::Authenticating { failures, .. } => {
                failures
            }
            _ => 0,
        };
        self.put(Continue::Challenge(text.to_vec()));
        self.state = State::Authenticating {
            failures,
            tag: tag.clone(),
            step,
        };
    }

    /// The client's answer to a challenge (an empty `line` when the framer
    /// refused it). `*` cancels (RFC 9051 §6.2.2); a malformed answer ends
    /// the exchange with BAD.
    pub(crate) async fn sasl_response(&mut self, line: &[u8]) -> Outcome {
        let State::Authenticating {
            failures,
            tag,
            step,
        } = std::mem::replace(&mut self.state, State::NotAuthenticated { failures: 0 })
        else {
            return Outcome::Continue;
        };
        self.state = State::NotAuthenticated { failures };
        let data = match parse_sasl_response(line) {
            Ok(SaslResponse::Data(d)) => d,
            Ok(SaslResponse::Cancel) => {
                self.put(Status::bad(&tag, "Authentication cancelled"));
                return Outcome::Continue;
            }
            Err(e) => {
                self.put(Status::bad(&tag, &format!("Invalid SASL response: {e}")));
                return Outcome::Continue;
            }
        };
        match step {
            SaslStep::Plain => self.plain(&tag, data).await,
            SaslStep::LoginUser => {
                self.challenge(&tag, SaslStep::LoginPassword { user: data }, b"Password:");
                Outcome::Continue
            }
            SaslStep::LoginPassword { user } => {
                let (Ok(user), Ok(pass)) = (
                    String::from_utf8(user.expose().clone()),
                    String::from_utf8(data.expose().clone()),
                ) else {
                    self.put(Status::bad(&tag, "Malformed LOGIN response"));
                    return Outcome::Continue;
                };
                self.check_credentials(&tag, user, Secret::new(pass), "AUTHENTICATE")
                    .await
            }
        }
    }

    /// RFC 4616: `[authzid] NUL authcid NUL passwd`.
    async fn plain(&mut self, tag: &Tag, data: Secret<Vec<u8>>) -> Outcome {
        let parts: Vec<&[u8]> = data.expose().split(|&b| b == 0).collect();
        let [authz, authc, pass] = parts.as_slice() else {
            self.put(Status::bad(tag, "Malformed PLAIN response"));
            return Outcome::Continue;
        };
        let (Ok(authz), Ok(authc), Ok(pass)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(authc),
            std::str::from_utf8(pass),
        ) else {
            self.put(Status::bad(tag, "Malformed PLAIN response"));
            return Outcome::Continue;
        };
        if !authz.is_empty() && authz != authc {
            self.put(
                Status::no(tag, "Cannot act as another user").with_code(Code::AuthorizationFailed),
            );
            return Outcome::Continue;
        }
        let (authc, pass) = (authc.to_string(), Secret::new(pass.to_string()));
        self.check_credentials(tag, authc, pass, "AUTHENTICATE")
            .await
    }

    pub(crate) async fn check_credentials(
        &mut self,
        tag: &Tag,
        username: String,
        password: Secret<String>,
        what: &str,
    ) -> Outcome {
        let limiter = self.shared.limiter.clone();
        if limiter.admit(self.peer, &username).await.is_err() {
            self.put(
                Status::no(tag, "Too many failed logins; try again later")
                    .with_code(Code::Unavailable),
            );
            self.put(Status::bye("Too many failed logins"));
            return Outcome::Close;
        }
        let login = username.clone();
        let result = self.call(move |s| s.authenticate(&login, &password)).await;
        match result {
            Ok(Some(account)) => {
                limiter.success(self.peer, &username);
                self.state = State::Authenticated { account };
                self.events = Some(self.shared.store.subscribe());
                let caps = self.capabilities();
                self.put(
                    Status::ok(tag, &format!("{what} completed")).with_code(Code::Capability(caps)),
                );
                Outcome::Continue
            }
            Ok(None) => {
                let delay = limiter.failure(self.peer, &username);
                tokio::time::sleep(delay).await;
                let failures = match &mut self.state {
                    State::NotAuthenticated { failures } => {
                        *failures += 1;
                        *failures
                    }
                    _ => 0,
                };
                self.put(
                    Status::no(tag, "Invalid credentials").with_code(Code::AuthenticationFailed),
                );
                if failures >= self.shared.config.max_login_failures {
                    self.put(Status::bye("Too many failed logins"));
                    return Outcome::Close;
                }
                Outcome::Continue
            }
            Err(e) => {
                self.put(store_error(tag, &e));
                Outcome::Continue
            }
        }
    }
}
