//! The POP3 service in process: a real listener on 127.0.0.1:0, a real
//! store in a temporary directory, and a small client that speaks the
//! protocol byte for byte. Here go the cases that need control over
//! timing, configuration or the store's change events; the real clients
//! (poplib, curl, fetchmail, getmail) drive the binary in
//! `crates/server/tests/pop3.rs`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidings_net::{AuthLimiter, ConnectionLimits, Listener, TlsMode};
use tidings_pop3::{Pop3Config, Pop3Service};
use tidings_pop3_proto::message::unstuff;
use tidings_pop3_proto::sasl::encode_plain;
use tidings_store::{NewEmail, Store};
use tidings_types::{AccountId, EmailId, MailboxRole, PopPolicy, Secret};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const USER: &str = "bob@localhost";
const PASSWORD: &str = "s3cret pw";

struct Server {
    addr: SocketAddr,
    store: Store,
    account: AccountId,
    connector: TlsConnector,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    _dir: tempfile::TempDir,
}

fn fast_config() -> Pop3Config {
    Pop3Config::default()
}

/// Failures answered after 100 ms × their number, at most 500 ms; 10 per
/// address within a minute block it.
fn fast_limiter() -> AuthLimiter {
    AuthLimiter::new(
        10,
        Duration::from_secs(60),
        Duration::from_millis(100),
        Duration::from_millis(500),
    )
}

async fn start(config: Pop3Config) -> Server {
    start_with(config, fast_limiter()).await
}

async fn start_with(config: Pop3Config, limiter: AuthLimiter) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.add_domain("localhost").unwrap();
    let account = store
        .create_account(USER, &Secret::new(PASSWORD.to_string()))
        .unwrap();

    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = certified.cert.der().clone();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let service = Arc::new(Pop3Service::new(store.clone(), config, limiter));
    let listener = Listener::new(
        tcp,
        TlsMode::StartTls,
        TlsAcceptor::from(Arc::new(server_tls)),
        service,
    );
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(listener.run(
        ConnectionLimits::new(100, 100),
        shutdown.clone(),
        tracker.clone(),
    ));
    Server {
        addr,
        store,
        account,
        connector: TlsConnector::from(Arc::new(client_tls)),
        shutdown,
        tracker,
        _dir: dir,
    }
}

impl Server {
    /// Appends a message to INBOX; returns its email id.
    fn deliver(&self, raw: &[u8]) -> EmailId {
        let inbox = self.mailbox(MailboxRole::Inbox);
        self.store
            .append(
                self.account,
                inbox,
                NewEmail {
                    raw,
                    ..NewEmail::default()
                },
            )
            .unwrap()
            .email
    }

    fn mailbox(&self, role: MailboxRole) -> tidings_types::MailboxId {
        self.store
            .mailbox_by_role(self.account, role)
            .unwrap()
            .unwrap()
            .id
    }

    fn inbox_emails(&self) -> Vec<EmailId> {
        self.store
            .mailbox_entries(self.account, self.mailbox(MailboxRole::Inbox))
            .unwrap()
            .iter()
            .map(|e| e.email)
            .collect()
    }

    async fn connect(&self) -> Client<TcpStream> {
        let mut c = Client {
            r: BufReader::new(TcpStream::connect(self.addr).await.unwrap()),
        };
        assert!(c.line().await.starts_with("+OK"), "greeting");
        c
    }

    async fn login(&self) -> Client<TcpStream> {
        let mut c = self.connect().await;
        c.ok(&format!("USER {USER}")).await;
        c.ok(&format!("PASS {PASSWORD}")).await;
        c
    }
}

struct Client<S> {
    r: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn send(&mut self, bytes: &[u8]) {
        self.r.get_mut().write_all(bytes).await.unwrap();
    }

    /// One reply line without CRLF; "" at end of stream.
    async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), self.r.read_until(b'\n', &mut buf))
            .await
            .expect("no reply within 10 s")
            .unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert!(s.is_empty() || s.ends_with("\r\n"), "not CRLF: {s:?}");
        s.trim_end_matches("\r\n").to_string()
    }

    /// Sends a command, returns the first reply line.
    async fn cmd(&mut self, command: &str) -> String {
        self.send(format!("{command}\r\n").as_bytes()).await;
        self.line().await
    }

    async fn ok(&mut self, command: &str) -> String {
        let reply = self.cmd(command).await;
        assert!(reply.starts_with("+OK"), "{command}: {reply}");
        reply
    }

    async fn err(&mut self, command: &str) -> String {
        let reply = self.cmd(command).await;
        assert!(reply.starts_with("-ERR"), "{command}: {reply}");
        reply
    }

    /// The rest of a multi-line reply, unstuffed.
    async fn body(&mut self) -> Vec<u8> {
        let mut raw = Vec::new();
        loop {
            let n = raw.len();
            tokio::time::timeout(Duration::from_secs(10), self.r.read_until(b'\n', &mut raw))
                .await
                .expect("no reply within 10 s")
                .unwrap();
            assert!(raw.len() > n, "stream ended inside a multi-line reply");
            if &raw[n..] == b".\r\n" {
                return unstuff(&raw).unwrap();
            }
        }
    }

    /// The lines of a multi-line reply.
    async fn lines(&mut self) -> Vec<String> {
        String::from_utf8(self.body().await)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits for the server to close the connection.
    async fn closed(&mut self) {
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), self.r.read_to_end(&mut rest))
            .await
            .expect("not closed within 10 s")
            .unwrap();
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    }
}

fn msg(subject: &str, body: &str) -> Vec<u8> {
    format!("From: ann@example.org\r\nTo: bob@localhost\r\nSubject: {subject}\r\n\r\n{body}")
        .into_bytes()
}

#[tokio::test]
async fn rfc1939_session_and_capabilities() {
    let s = start(fast_config()).await;
    let m1 = s.deliver(&msg("one", "first\r\n"));
    let m2 = s.deliver(&msg("two", "second\r\n.dotted\r\n"));
    let mut c = s.connect().await;
    c.ok("CAPA").await;
    let caps = c.lines().await;
    for want in [
        "TOP",
        "UIDL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "UTF8",
        "USER",
        "SASL PLAIN",
        "STLS",
        "IMPLEMENTATION Tidings",
    ] {
        assert!(caps.iter().any(|c| c == want), "{want} missing: {caps:?}");
    }
    c.ok(&format!("USER {USER}")).await;
    let login = c.ok(&format!("PASS {PASSWORD}")).await;
    let size1 = msg("one", "first\r\n").len();
    let size2 = msg("two", "second\r\n.dotted\r\n").len();
    assert_eq!(
        login,
        format!(
            "+OK {USER}'s maildrop has 2 messages ({} octets)",
            size1 + size2
        )
    );
    assert_eq!(c.ok("STAT").await, format!("+OK 2 {}", size1 + size2));
    c.ok("LIST").await;
    assert_eq!(
        c.lines().await,
        [format!("1 {size1}"), format!("2 {size2}")]
    );
    assert_eq!(c.ok("LIST 2").await, format!("+OK 2 {size2}"));
    c.ok("UIDL").await;
    assert_eq!(c.lines().await, [format!("1 {m1}"), format!("2 {m2}")]);
    assert_eq!(c.ok("UIDL 1").await, format!("+OK 1 {m1}"));
    assert_eq!(c.ok("RETR 2").await, format!("+OK {size2} octets"));
    assert_eq!(c.body().await, msg("two", "second\r\n.dotted\r\n"));
    c.ok("TOP 2 1").await;
    assert_eq!(c.body().await, msg("two", "second\r\n"));
    c.ok("TOP 1 0").await;
    assert_eq!(c.body().await, msg("one", ""));
    assert_eq!(c.ok("DELE 1").await, "+OK message 1 deleted");
    c.err("DELE 1").await;
    c.err("RETR 1").await;
    c.err("LIST 1").await;
    c.err("UIDL 1").await;
    c.err("TOP 1 0").await;
    assert_eq!(c.ok("STAT").await, format!("+OK 1 {size2}"));
    c.ok("LIST").await;
    assert_eq!(c.lines().await, [format!("2 {size2}")]);
    c.ok("RSET").await;
    assert_eq!(c.ok("STAT").await, format!("+OK 2 {}", size1 + size2));
    c.ok("NOOP").await;
    c.ok("CAPA").await;
    assert!(c.lines().await.contains(&"TOP".to_string()));
    c.ok("QUIT").await;
    c.closed().await;
    assert_eq!(s.inbox_emails(), [m1, m2], "nothing was deleted");
}

#[tokio::test]
async fn bad_input_gets_err_and_the_session_goes_on() {
    let s = start(fast_config()).await;
    s.deliver(&msg("one", "x\r\n"));
    let mut c = s.connect().await;
    assert_eq!(c.err("FROBNICATE").await, "-ERR unknown command FROBNICATE");
    c.err("APOP bob 0123456789abcdef").await;
    c.err("").await;
    assert!(c.err("STAT").await.contains("only allowed after login"));
    c.err("RETR 1").await;
    c.err("NOOP").await;
    c.err("PASS x").await; // PASS before USER
    let long = format!("USER {}", "x".repeat(300));
    assert!(c.err(&long).await.contains("line too long"));
    // A multi-megabyte line is not buffered and ends the same way.
    c.send(&vec![b'y'; 3 << 20]).await;
    c.send(b"\r\n").await;
    assert!(c.line().await.contains("line too long"));
    let mut c = s.login().await;
    for bad in [
        "RETR 0",
        "RETR 2",
        "RETR 4294967295",
        "DELE 9",
        "LIST 7",
        "TOP 3 1",
        "UIDL 2",
    ] {
        assert!(c.err(bad).await.contains("no such message"), "{bad}");
    }
    for bad in ["RETR", "RETR x", "TOP 1", "LIST 1 2", "RETR 99999999999"] {
        assert!(c.err(bad).await.contains("syntax error"), "{bad}");
    }
    assert!(c.err("USER x").await.contains("not allowed after login"));
    c.err("STLS").await;
    c.err("AUTH PLAIN").await;
    c.err("UTF8").await;
    c.err("WHAT").await;
    c.ok("STAT").await;
    c.ok("QUIT").await;
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let s = start(fast_config()).await;
    let big: Vec<u8> = (0..20_000)
        .flat_map(|i| format!(".line {i} of a long message\r\n").into_bytes())
        .collect();
    let mut raw = msg("big", "");
    raw.extend_from_slice(&big);
    let m1 = s.deliver(&raw);
    let mut c = s.connect().await;
    c.send(
        format!(
            "CAPA\r\nUSER {USER}\r\nPASS {PASSWORD}\r\nSTAT\r\nUIDL\r\nRETR 1\r\nLIST 1\r\nNOOP\r\nQUIT\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(c.line().await.starts_with("+OK"));
    assert!(c.lines().await.contains(&"PIPELINING".to_string()));
    assert!(c.line().await.starts_with("+OK")); // USER
    assert!(c.line().await.starts_with("+OK")); // PASS
    assert_eq!(c.line().await, format!("+OK 1 {}", raw.len()));
    assert!(c.line().await.starts_with("+OK"));
    assert_eq!(c.lines().await, [format!("1 {m1}")]);
    assert!(c.line().await.starts_with("+OK"));
    assert_eq!(c.body().await, raw, "RETR gives the stored bytes");
    assert_eq!(c.line().await, format!("+OK 1 {}", raw.len()));
    assert_eq!(c.line().await, "+OK");
    assert!(c.line().await.starts_with("+OK"));
    c.closed().await;
}

#[tokio::test]
async fn retr_sends_lf_messages_with_crlf() {
    let s = start(fast_config()).await;
    s.deliver(b"Subject: lf\n\n.dot\nbody\n");
    let mut c = s.login().await;
    c.ok("RETR 1").await;
    assert_eq!(c.body().await, b"Subject: lf\r\n\r\n.dot\r\nbody\r\n");
    c.ok("QUIT").await;
}

#[tokio::test]
async fn quit_applies_each_pop_policy_and_publishes_a_change() {
    // (policy, in INBOX after, \Seen, in Trash, exists)
    for (policy, in_inbox, seen, in_trash, exists) in [
        (PopPolicy::Keep, true, false, false, true),
        (PopPolicy::MarkRead, true, true, false, true),
        (PopPolicy::Archive, false, false, false, true),
        (PopPolicy::Trash, false, false, true, true),
        (PopPolicy::Delete, false, false, false, false),
    ] {
        let s = start(fast_config()).await;
        s.store.set_policies(USER, None, Some(policy)).unwrap();
        let gone = s.deliver(&msg("one", "x\r\n"));
        let kept = s.deliver(&msg("two", "y\r\n"));
        let mut events = s.store.subscribe();
        let mut c = s.login().await;
        c.ok("DELE 1").await;
        assert!(
            events.try_recv().is_err(),
            "{policy}: DELE alone changes nothing"
        );
        assert_eq!(
            c.ok("QUIT").await,
            "+OK Tidings POP3 server signing off (1 messages deleted)"
        );
        c.closed().await;

        // Once QUIT said +OK the change is committed, and an IMAP IDLE
        // session (a subscriber) has been told about INBOX.
        let inbox = s.mailbox(MailboxRole::Inbox);
        if policy != PopPolicy::Keep {
            let event = events.try_recv().unwrap();
            assert_eq!(event.account, s.account);
            assert!(event.mailboxes.contains(&inbox), "{policy}: {event:?}");
        }
        let entries = s.store.mailbox_entries(s.account, inbox).unwrap();
        let entry = entries.iter().find(|e| e.email == gone);
        assert_eq!(entry.is_some(), in_inbox, "{policy}");
        if let Some(e) = entry {
            assert_eq!(
                e.keywords.iter().any(|k| k.as_str() == "\\Seen"),
                seen,
                "{policy}"
            );
        }
        let trash = s
            .store
            .mailbox_entries(s.account, s.mailbox(MailboxRole::Trash))
            .unwrap();
        assert_eq!(trash.iter().any(|e| e.email == gone), in_trash, "{policy}");
        assert_eq!(
            s.store.email_raw(s.account, gone).is_ok(),
            exists,
            "{policy}"
        );

        // Whatever the policy, POP3 never offers it again.
        let mut c = s.login().await;
        c.ok("UIDL").await;
        assert_eq!(c.lines().await, [format!("1 {kept}")], "{policy}");
        c.ok("QUIT").await;
    }
}

#[tokio::test]
async fn a_dropped_connection_changes_nothing() {
    let s = start(fast_config()).await;
    let m1 = s.deliver(&msg("one", "x\r\n"));
    let mut c = s.login().await;
    c.ok("DELE 1").await;
    drop(c);
    // The lock is released once the server noticed; then all is as before.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut c = loop {
        let mut c = s.connect().await;
        c.ok(&format!("USER {USER}")).await;
        if c.cmd(&format!("PASS {PASSWORD}")).await.starts_with("+OK") {
            break c;
        }
        assert!(Instant::now() < deadline, "lock never released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    c.ok("UIDL").await;
    assert_eq!(c.lines().await, [format!("1 {m1}")]);
    c.ok("QUIT").await;
    assert_eq!(s.inbox_emails(), [m1]);
}

#[tokio::test]
async fn a_second_session_gets_in_use() {
    let s = start(fast_config()).await;
    s.deliver(&msg("one", "x\r\n"));
    let mut first = s.login().await;
    let mut second = s.connect().await;
    second.ok(&format!("USER {USER}")).await;
    assert_eq!(
        second.cmd(&format!("PASS {PASSWORD}")).await,
        "-ERR [IN-USE] another POP3 session is using this maildrop"
    );
    // A wrong password is not told the maildrop is busy.
    second.ok(&format!("USER {USER}")).await;
    assert!(second.err("PASS wrong").await.starts_with("-ERR [AUTH]"));
    first.ok("QUIT").await;
    first.closed().await;
    second.ok(&format!("USER {USER}")).await;
    second.ok(&format!("PASS {PASSWORD}")).await;
    second.ok("QUIT").await;
}

#[tokio::test]
async fn sasl_plain_with_and_without_initial_response() {
    let s = start(fast_config()).await;
    let mut c = s.connect().await;
    c.ok("AUTH").await;
    assert_eq!(c.lines().await, ["PLAIN"]);
    assert!(c.err("AUTH CRAM-MD5").await.contains("unsupported"));
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ ");
    assert_eq!(c.cmd("*").await, "-ERR authentication cancelled");
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ ");
    assert!(c.err("!!notbase64").await.contains("base64"));
    // Acting as someone else is refused like a wrong password.
    let other = encode_plain("ann@localhost", USER, PASSWORD);
    assert!(
        c.err(&format!("AUTH PLAIN {other}"))
            .await
            .starts_with("-ERR [AUTH]")
    );
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ ");
    c.ok(&encode_plain("", USER, PASSWORD)).await;
    c.ok("STAT").await;
    c.ok("QUIT").await;
    let mut c = s.connect().await;
    c.ok(&format!(
        "AUTH PLAIN {}",
        encode_plain(USER, USER, PASSWORD)
    ))
    .await;
    c.ok("QUIT").await;
}

#[tokio::test]
async fn wrong_passwords_are_slowed_down_then_disconnected() {
    let s = start_with(
        Pop3Config {
            max_failures: 3,
            ..Pop3Config::default()
        },
        AuthLimiter::new(
            5,
            Duration::from_secs(60),
            Duration::from_millis(200),
            Duration::from_secs(1),
        ),
    )
    .await;
    let mut c = s.connect().await;
    let started = Instant::now();
    for i in 1..=3u32 {
        c.ok(&format!("USER {USER}")).await;
        let reply = c.err("PASS wrong").await;
        if i < 3 {
            assert_eq!(reply, "-ERR [AUTH] invalid user name or password");
        } else {
            assert_eq!(
                reply,
                "-ERR [AUTH] invalid user name or password; too many failed logins, closing the connection"
            );
        }
        assert!(started.elapsed() >= Duration::from_millis(200) * (i * (i + 1) / 2));
    }
    c.closed().await;

    // Two more failures from this address, in another session, use up the
    // address's allowance: then even the right password is refused.
    let mut c = s.connect().await;
    for _ in 0..2 {
        c.ok("USER nobody@localhost").await;
        c.err("PASS x").await;
    }
    let mut c = s.connect().await;
    c.ok(&format!("USER {USER}")).await;
    assert!(
        c.err(&format!("PASS {PASSWORD}"))
            .await
            .starts_with("-ERR [LOGIN-DELAY]")
    );
}

#[tokio::test]
async fn plaintext_login_needs_tls_and_stls_provides_it() {
    let s = start(Pop3Config {
        // As if the client were not on loopback.
        plaintext_on_loopback: false,
        ..fast_config()
    })
    .await;
    s.deliver(&msg("one", "x\r\n"));
    let mut c = s.connect().await;
    c.ok("CAPA").await;
    let caps = c.lines().await;
    assert!(caps.contains(&"STLS".to_string()), "{caps:?}");
    assert!(
        !caps.iter().any(|c| c == "USER" || c.starts_with("SASL")),
        "{caps:?}"
    );
    assert!(
        c.err(&format!("USER {USER}"))
            .await
            .starts_with("-ERR [AUTH]")
    );
    assert!(c.err("AUTH PLAIN").await.starts_with("-ERR [AUTH]"));
    // Bytes pipelined after STLS were sent in plaintext: they are dropped.
    c.send(b"STLS\r\nUSER injected\r\n").await;
    assert_eq!(c.line().await, "+OK begin TLS negotiation");
    let tls = s
        .connector
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            c.r.into_inner(),
        )
        .await
        .unwrap();
    let mut c = Client {
        r: BufReader::new(tls),
    };
    c.ok("CAPA").await;
    let caps = c.lines().await;
    assert!(caps.contains(&"USER".to_string()), "{caps:?}");
    assert!(!caps.contains(&"STLS".to_string()), "{caps:?}");
    assert!(c.err("STLS").await.contains("already"));
    assert!(
        c.err(&format!("PASS {PASSWORD}"))
            .await
            .contains("USER first")
    );
    c.ok(&format!("USER {USER}")).await;
    c.ok(&format!("PASS {PASSWORD}")).await;
    c.ok("RETR 1").await;
    assert_eq!(c.body().await, msg("one", "x\r\n"));
    c.ok("QUIT").await;
}

#[tokio::test]
async fn autologout_closes_without_update() {
    let s = start(Pop3Config {
        idle_timeout: Duration::from_millis(300),
        ..fast_config()
    })
    .await;
    let m1 = s.deliver(&msg("one", "x\r\n"));
    let mut c = s.login().await;
    c.ok("DELE 1").await;
    assert!(c.line().await.starts_with("-ERR autologout"));
    c.closed().await;
    assert_eq!(s.inbox_emails(), [m1]);
}

#[tokio::test]
async fn shutdown_says_sys_temp_and_commits_nothing() {
    let s = start(fast_config()).await;
    let m1 = s.deliver(&msg("one", "x\r\n"));
    let mut c = s.login().await;
    c.ok("DELE 1").await;
    s.shutdown.cancel();
    s.tracker.close();
    assert_eq!(c.line().await, "-ERR [SYS/TEMP] server shutting down");
    c.closed().await;
    tokio::time::timeout(Duration::from_secs(5), s.tracker.wait())
        .await
        .unwrap();
    assert_eq!(s.inbox_emails(), [m1]);
}

#[tokio::test]
async fn recent_mode_lists_what_another_device_already_took() {
    let s = start(fast_config()).await;
    let m1 = s.deliver(&msg("one", "x\r\n"));
    let m2 = s.deliver(&msg("two", "y\r\n"));
    // The first device downloads and deletes m1 (policy mark-read).
    let mut c = s.login().await;
    c.ok("DELE 1").await;
    c.ok("QUIT").await;
    c.closed().await;
    let mut c = s.login().await;
    c.ok("UIDL").await;
    assert_eq!(c.lines().await, [format!("1 {m2}")]);
    c.ok("QUIT").await;
    c.closed().await;
    // A second device in recent mode still gets both.
    let mut c = s.connect().await;
    c.ok(&format!("USER recent:{USER}")).await;
    c.ok(&format!("PASS {PASSWORD}")).await;
    c.ok("UIDL").await;
    assert_eq!(c.lines().await, [format!("1 {m1}"), format!("2 {m2}")]);
    c.ok("QUIT").await;
}

#[tokio::test]
async fn uidls_are_stable_and_never_reused() {
    let s = start(fast_config()).await;
    s.store
        .set_policies(USER, None, Some(PopPolicy::Delete))
        .unwrap();
    let m1 = s.deliver(&msg("one", "x\r\n"));
    let m2 = s.deliver(&msg("two", "y\r\n"));
    let mut c = s.login().await;
    c.ok("UIDL").await;
    assert_eq!(c.lines().await, [format!("1 {m1}"), format!("2 {m2}")]);
    c.ok("DELE 2").await;
    c.ok("QUIT").await;
    c.closed().await;
    let m3 = s.deliver(&msg("three", "z\r\n"));
    assert_ne!(m3, m2, "a deleted email's id is not reused");
    let mut c = s.login().await;
    c.ok("UIDL").await;
    assert_eq!(c.lines().await, [format!("1 {m1}"), format!("2 {m3}")]);
    c.ok("QUIT").await;
}

#[tokio::test]
async fn a_message_deleted_elsewhere_mid_session_is_an_err() {
    let s = start(fast_config()).await;
    let m1 = s.deliver(&msg("one", "x\r\n"));
    let mut c = s.login().await;
    s.store.destroy_emails(s.account, &[m1]).unwrap();
    assert!(c.err("RETR 1").await.contains("no longer available"));
    c.ok("DELE 1").await;
    // Committing a vanished email is skipped, not an error.
    c.ok("QUIT").await;
}
