//! EHLO / HELO (RFC 5321 §4.1.1.1), STARTTLS (RFC 3207), RSET, NOOP,
//! QUIT, VRFY, EXPN and HELP: the commands that need no transaction.

use tidings_smtp_proto::{EnhancedCode as E, Reply};

use crate::session::{Helo, Outcome, Session, State, r};

impl Session {
    /// EHLO (`esmtp`) or HELO: the session starts over, greeted
    /// (RFC 5321 §4.1.4: a transaction in progress is dropped).
    pub(crate) fn greet(&mut self, name: String, esmtp: bool) -> Outcome {
        let reply = if esmtp {
            self.ehlo_reply(&name)
        } else {
            Reply::plain(250, self.hostname().to_string())
        };
        self.reply(&reply);
        self.helo = Some(Helo { name, esmtp });
        self.state = State::Ready;
        Outcome::Command
    }

    /// The EHLO reply: the greeting and the extensions offered now.
    fn ehlo_reply(&self, name: &str) -> Reply {
        let mut lines = vec![format!("{} greets {name}", self.hostname())];
        lines.push("PIPELINING".into());
        lines.push(format!("SIZE {}", self.shared.config.max_message_size));
        lines.push("8BITMIME".into());
        lines.push("BINARYMIME".into());
        lines.push("CHUNKING".into());
        lines.push("SMTPUTF8".into());
        lines.push("ENHANCEDSTATUSCODES".into());
        lines.push("DSN".into());
        if self.starttls && !self.tls {
            lines.push("STARTTLS".into());
        }
        if self.tls {
            // RFC 8689 §4: only where the message arrives over TLS.
            lines.push("REQUIRETLS".into());
        }
        if self.auth_allowed() && self.auth.is_none() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        lines.push("HELP".into());
        Reply::multi(250, lines)
    }

    pub(crate) fn quit(&mut self) -> Outcome {
        let reply = Reply::new(221, E(2, 0, 0), format!("{} closing", self.hostname()));
        self.reply(&reply);
        Outcome::Close
    }

    pub(crate) fn noop(&mut self) -> Outcome {
        self.reply(&r(250, E(2, 0, 0), "OK"));
        Outcome::Command
    }

    /// RFC 5321 §4.1.1.5: the transaction goes, the greeting (and AUTH,
    /// TLS) stay.
    pub(crate) fn rset(&mut self) -> Outcome {
        if !matches!(self.state, State::Fresh) {
            self.state = State::Ready;
        }
        self.reply(&r(250, E(2, 0, 0), "OK"));
        Outcome::Command
    }

    /// RFC 5321 §3.5.3: 252 when we will not verify.
    pub(crate) fn vrfy(&mut self) -> Outcome {
        self.reply(&r(
            252,
            E(2, 5, 0),
            "cannot VRFY user, but will accept message and attempt delivery",
        ));
        Outcome::Command
    }

    pub(crate) fn expn(&mut self) -> Outcome {
        self.reply(&r(502, E(5, 5, 1), "EXPN not available"));
        Outcome::Command
    }

    pub(crate) fn help(&mut self) -> Outcome {
        self.reply(&r(
            214,
            E(2, 0, 0),
            "see RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS AUTH",
        ));
        Outcome::Command
    }

    /// STARTTLS (RFC 3207 §4): the loop runs the handshake after the 220.
    pub(crate) fn start_tls(&mut self) -> Outcome {
        if self.tls || !self.starttls {
            self.reply(&r(502, E(5, 5, 1), "STARTTLS not available"));
            return Outcome::Command;
        }
        if matches!(self.state, State::Transaction(_)) {
            self.reply(&r(503, E(5, 5, 1), "STARTTLS not allowed in a transaction"));
            return Outcome::Command;
        }
        self.reply(&r(220, E(2, 0, 0), "ready to start TLS"));
        Outcome::StartTls
    }
}
