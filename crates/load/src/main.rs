//! `tidings-load`: a load generator that speaks the mail protocols, for the
//! side-by-side benchmarks in `scripts/bench` (Tidings against Dovecot and
//! Postfix on the same machine, same users, same messages).
//!
//! Subcommands:
//! - `seed-tidings DATA_DIR USERS MESSAGES [CORPUS_DIR]`: users
//!   `u<i>@bench.test` (password `pw`), each with the same MESSAGES messages
//!   in INBOX, written straight into a Tidings store.
//! - `seed-maildir DIR USERS MESSAGES [CORPUS_DIR]`: the same users and
//!   messages as Maildirs `DIR/u<i>/Maildir` plus `DIR/passwd` (Dovecot's
//!   passwd-file), for the peer.
//! - `pop3 ADDR USERS CLIENTS SECONDS`: CLIENTS concurrent POP3 clients, each
//!   repeatedly logging in as a random user and doing STAT, UIDL, RETR of every
//!   message, QUIT (no DELE, so every round sees the same maildrop), for
//!   SECONDS. Prints messages/s, sessions/s and session latency percentiles.
//! - `smtp ADDR USERS SESSIONS MESSAGES [CORPUS_DIR]`: SESSIONS concurrent SMTP
//!   connections, each EHLO once then MAIL/RCPT (`u<i>@bench.test`, cycling
//!   over USERS)/DATA per message, no pipelining, until MESSAGES messages were
//!   sent in total (or 120 s passed). Prints accepted messages/s and
//!   per-message latency percentiles.
//!
//! - `imap ADDR USERS CLIENTS SECONDS`: the IMAP mix (see `imap.rs`).
//! - `imap-persistent ADDR USERS CLIENTS SECONDS`: the persistent IMAP mix
//!   (CLIENTS sessions that stay logged in; see `imap.rs`); client `i`
//!   logs in as user `i % USERS`, numbered from `TIDINGS_LOAD_FIRST_CLIENT`
//!   (0) so that generators splitting a load over nodes take distinct users.
//! - `idle ADDR USERS CONNECTIONS SECONDS`: CONNECTIONS sessions in IDLE,
//!   held for SECONDS.
//!
//! - `hostile IMAP POP3 SMTP USERS NORMAL ATTACKERS SECONDS`: NORMAL
//!   sessions (a third each of IMAP, POP3, SMTP) while ATTACKERS connections
//!   repeat the attacks listed in `hostile.rs`; prints the normal clients'
//!   rates, latency percentiles and errors.
//!
//! - `big MODE ADDR USERS CLIENTS MIB`: CLIENTS concurrent transfers of a
//!   MIB MiB message, MODE `smtp` (DATA), `append` (IMAP APPEND) or
//!   `fetch` (IMAP FETCH BODY[] of the last message); prints throughput and
//!   errors (see `big.rs`).
//!
//! - `dns-stub ADDR`: a loopback DNS server that answers NXDOMAIN to every
//!   question, for the server under test's `[dns] resolver` (see
//!   `dns_stub.rs`); runs until killed.
//!
//! With `TIDINGS_LOAD_NAGLE=1` in the environment, client sockets keep
//! Nagle's algorithm (no `TCP_NODELAY`), as Python's imaplib and most
//! scripts do: that is how the delayed-ACK stall on literals shows.
//!
//! Messages come from the SpamAssassin corpus when a directory is given
//! (`scripts/fetch-corpus`), else are synthetic 10 KB texts. Every loop is
//! bounded in time; targets are loopback addresses only.

#![forbid(unsafe_code)]

mod big;
mod dns_stub;
mod hostile;
mod imap;
mod latency;
mod pop3;
mod seed;
mod smtp;

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage:\n  tidings-load seed-tidings DATA_DIR USERS MESSAGES [CORPUS_DIR]\n  \
         tidings-load seed-maildir DIR USERS MESSAGES [CORPUS_DIR]\n  \
         tidings-load pop3 ADDR USERS CLIENTS SECONDS\n  \
         tidings-load smtp ADDR USERS SESSIONS MESSAGES [CORPUS_DIR]\n  \
         tidings-load imap ADDR USERS CLIENTS SECONDS\n  \
         tidings-load imap-persistent ADDR USERS CLIENTS SECONDS\n  \
         tidings-load idle ADDR USERS CONNECTIONS SECONDS\n  \
         tidings-load hostile IMAP POP3 SMTP USERS NORMAL ATTACKERS SECONDS\n  \
         tidings-load big smtp|append|fetch ADDR USERS CLIENTS MIB\n  \
         tidings-load dns-stub ADDR"
    );
    ExitCode::from(2)
}

/// Whether client sockets set `TCP_NODELAY` (see the crate docs).
pub(crate) fn nodelay() -> bool {
    std::env::var_os("TIDINGS_LOAD_NAGLE").is_none_or(|v| v != "1")
}

fn number(s: &str) -> Result<usize, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

/// Parses a target address; the load generator only targets loopback.
fn loopback(addr: &str) -> Result<std::net::SocketAddr, String> {
    let a: std::net::SocketAddr = addr
        .parse()
        .map_err(|_| format!("not an address: {addr}"))?;
    if a.ip().is_loopback() {
        Ok(a)
    } else {
        Err("the load generator only targets loopback addresses".to_string())
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["seed-tidings", dir, users, msgs, rest @ ..] => (|| {
            seed::tidings(
                dir.as_ref(),
                number(users)?,
                number(msgs)?,
                rest.first().map(|c| c.as_ref()),
            )
        })(),
        ["seed-maildir", dir, users, msgs, rest @ ..] => (|| {
            seed::maildir(
                dir.as_ref(),
                number(users)?,
                number(msgs)?,
                rest.first().map(|c| c.as_ref()),
            )
        })(),
        ["pop3", addr, users, clients, seconds] => (|| {
            let addr = addr
                .parse()
                .map_err(|_| format!("not an address: {addr}"))?;
            if !std::net::SocketAddr::ip(&addr).is_loopback() {
                return Err("the load generator only targets loopback addresses".to_string());
            }
            pop3::run(
                addr,
                number(users)?,
                number(clients)?,
                number(seconds)? as u64,
            )
        })(),
        ["smtp", addr, users, sessions, msgs, rest @ ..] if rest.len() <= 1 => (|| {
            let addr: std::net::SocketAddr = addr
                .parse()
                .map_err(|_| format!("not an address: {addr}"))?;
            if !addr.ip().is_loopback() {
                return Err("the load generator only targets loopback addresses".to_string());
            }
            smtp::run(
                addr,
                number(users)?,
                number(sessions)?,
                number(msgs)?,
                rest.first().map(|c| c.as_ref()),
            )
        })(),
        ["dns-stub", addr] => loopback(addr).and_then(dns_stub::run),
        ["big", mode, addr, users, clients, mib] => (|| {
            big::run(
                mode,
                loopback(addr)?,
                number(users)?,
                number(clients)?,
                number(mib)?,
            )
        })(),
        ["imap", addr, users, clients, seconds] => (|| {
            let addr = loopback(addr)?;
            imap::run(
                addr,
                number(users)?,
                number(clients)?,
                number(seconds)? as u64,
            )
        })(),
        ["imap-persistent", addr, users, clients, seconds] => (|| {
            let addr = loopback(addr)?;
            imap::persistent(
                addr,
                number(users)?,
                number(clients)?,
                number(seconds)? as u64,
            )
        })(),
        ["idle", addr, users, connections, hold] => (|| {
            let addr = loopback(addr)?;
            imap::idle(
                addr,
                number(users)?,
                number(connections)?,
                number(hold)? as u64,
            )
        })(),
        [
            "hostile",
            imap,
            pop3,
            smtp,
            users,
            normal,
            attackers,
            seconds,
        ] => (|| {
            let targets = hostile::Targets {
                imap: loopback(imap)?,
                pop3: loopback(pop3)?,
                smtp: loopback(smtp)?,
            };
            hostile::run(
                targets,
                number(users)?,
                number(normal)?,
                number(attackers)?,
                number(seconds)? as u64,
            )
        })(),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
