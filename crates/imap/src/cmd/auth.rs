//! Authentication (RFC 9051 §6.2): STARTTLS, LOGIN, AUTHENTICATE PLAIN and
//! LOGIN (RFC 4616, draft-murchison-sasl-login), and the shared check of
//! credentials with the login limiter.

use std::io;

use tidings_imap_proto::{Code, Continue, SaslResponse, Status, Tag, parse_sasl_response};
use tidings_types::Secret;

use crate::session::{Flow, Session, State, store_error};

impl Session {
    pub(crate) async fn starttls(&mut self, tag: &Tag) -> io::Result<Flow> {
        let Some(acceptor) = self.starttls.clone().filter(|_| !self.tls()) else {
            self.put(Status::bad(tag, "STARTTLS is not available here"));
            return Ok(Flow::Continue);
        };
        self.put(Status::ok(tag, "Begin TLS negotiation now"));
        self.flush().await?;
        // RFC 9051 §6.2.1: anything sent before the handshake is discarded.
        self.framer.clear();
        let Some(stream) = self.stream.take() else {
            return Ok(Flow::Close);
        };
        match stream.upgrade(&acceptor).await {
            Ok(s) => {
                self.stream = Some(s);
                self.starttls = None;
                Ok(Flow::Continue)
            }
            Err(e) => {
                tracing::debug!("STARTTLS handshake failed: {e}");
                Ok(Flow::Close)
            }
        }
    }

    pub(crate) async fn login(
        &mut self,
        tag: &Tag,
        username: String,
        password: Secret<String>,
    ) -> io::Result<Flow> {
        if !self.plaintext_ok() {
            self.put(
                Status::no(tag, "LOGIN is disabled before TLS; use STARTTLS")
                    .with_code(Code::PrivacyRequired),
            );
            return Ok(Flow::Continue);
        }
        self.check_credentials(tag, username, password, "LOGIN")
            .await
    }

    pub(crate) async fn authenticate(
        &mut self,
        tag: &Tag,
        mechanism: &str,
        initial: Option<Secret<Vec<u8>>>,
    ) -> io::Result<Flow> {
        if mechanism != "PLAIN" && mechanism != "LOGIN" {
            self.put(
                Status::no(tag, "Unsupported authentication mechanism").with_code(Code::Cannot),
            );
            return Ok(Flow::Continue);
        }
        if !self.plaintext_ok() {
            self.put(
                Status::no(tag, "Authentication is disabled before TLS; use STARTTLS")
                    .with_code(Code::PrivacyRequired),
            );
            return Ok(Flow::Continue);
        }
        if mechanism == "LOGIN" {
            // draft-murchison-sasl-login: "Username:", then "Password:";
            // an initial response is the user name.
            let user = match initial {
                Some(d) => d,
                None => match self.sasl_step(tag, b"Username:").await? {
                    Ok(d) => d,
                    Err(flow) => return Ok(flow),
                },
            };
            let pass = match self.sasl_step(tag, b"Password:").await? {
                Ok(d) => d,
                Err(flow) => return Ok(flow),
            };
            let (Ok(user), Ok(pass)) = (
                String::from_utf8(user.expose().clone()),
                String::from_utf8(pass.expose().clone()),
            ) else {
                self.put(Status::bad(tag, "Malformed LOGIN response"));
                return Ok(Flow::Continue);
            };
            return self
                .check_credentials(tag, user, Secret::new(pass), "AUTHENTICATE")
                .await;
        }
        let data = match initial {
            Some(d) => d,
            None => match self.sasl_step(tag, b"").await? {
                Ok(d) => d,
                Err(flow) => return Ok(flow),
            },
        };
        // RFC 4616: [authzid] NUL authcid NUL passwd
        let parts: Vec<&[u8]> = data.expose().split(|&b| b == 0).collect();
        let [authz, authc, pass] = parts.as_slice() else {
            self.put(Status::bad(tag, "Malformed PLAIN response"));
            return Ok(Flow::Continue);
        };
        let (Ok(authz), Ok(authc), Ok(pass)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(authc),
            std::str::from_utf8(pass),
        ) else {
            self.put(Status::bad(tag, "Malformed PLAIN response"));
            return Ok(Flow::Continue);
        };
        if !authz.is_empty() && authz != authc {
            self.put(
                Status::no(tag, "Cannot act as another user").with_code(Code::AuthorizationFailed),
            );
            return Ok(Flow::Continue);
        }
        self.check_credentials(
            tag,
            authc.to_string(),
            Secret::new(pass.to_string()),
            "AUTHENTICATE",
        )
        .await
    }

    /// Sends a SASL challenge and reads the answer. `Err(flow)` when the
    /// exchange ended (cancelled or malformed: tagged BAD already written;
    /// connection gone: close).
    pub(crate) async fn sasl_step(
        &mut self,
        tag: &Tag,
        challenge: &[u8],
    ) -> io::Result<Result<Secret<Vec<u8>>, Flow>> {
        self.put(Continue::Challenge(challenge.to_vec()));
        self.flush().await?;
        let Some(line) = self.next_line().await? else {
            return Ok(Err(Flow::Close));
        };
        Ok(match parse_sasl_response(&line) {
            Ok(SaslResponse::Data(d)) => Ok(d),
            Ok(SaslResponse::Cancel) => {
                self.put(Status::bad(tag, "Authentication cancelled"));
                Err(Flow::Continue)
            }
            Err(e) => {
                self.put(Status::bad(tag, &format!("Invalid SASL response: {e}")));
                Err(Flow::Continue)
            }
        })
    }

    pub(crate) async fn check_credentials(
        &mut self,
        tag: &Tag,
        username: String,
        password: Secret<String>,
        what: &str,
    ) -> io::Result<Flow> {
        let limiter = self.shared.limiter.clone();
        if limiter.admit(self.peer, &username).await.is_err() {
            self.put(
                Status::no(tag, "Too many failed logins; try again later")
                    .with_code(Code::Unavailable),
            );
            self.put(Status::bye("Too many failed logins"));
            return Ok(Flow::Close);
        }
        let login = username.clone();
        let result = self.call(move |s| s.authenticate(&login, &password)).await;
        match result {
            Ok(Some(account)) => {
                limiter.success(self.peer, &username);
                self.state = State::Authenticated { account };
                // The logged-in limits (APPENDLIMIT) from now on.
                self.framer.set_limits(self.shared.config.limits);
                self.events = Some(self.shared.store.subscribe());
                let caps = self.capabilities();
                self.put(
                    Status::ok(tag, &format!("{what} completed")).with_code(Code::Capability(caps)),
                );
                Ok(Flow::Continue)
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
                    return Ok(Flow::Close);
                }
                Ok(Flow::Continue)
            }
            Err(e) => {
                self.put(store_error(tag, &e));
                Ok(Flow::Continue)
            }
        }
    }
}
