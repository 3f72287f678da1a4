//! The hostile-clients workload: normal IMAP, POP3 and SMTP sessions run
//! while attacker connections repeat the attacks of the hardening work in a
//! loop, so that `scripts/bench hostile` can compare the normal clients'
//! latency and errors with and without the attack (and read the server's
//! peak memory meanwhile).
//!
//! Accounts (seeded by `seed-tidings`, users `u0..u{USERS-1}`): the normal
//! clients use all but the last two; `u{USERS-2}` is the attacker's own
//! account (the attacks that need a login), `u{USERS-1}` the victim whose
//! password is guessed (so that its lock-out does not count as an error of
//! the normal clients).
//!
//! The attacks, one after the other on each attacker connection:
//! - COMPRESS=DEFLATE followed by an empty final block and a stray byte;
//! - THREAD/SORT on a mailbox holding a message with 60,000 References;
//! - FETCH of 3,000 × `BODY.PEEK[]`, then disconnecting at once;
//! - an unauthenticated `APPEND {52428800+}` streaming its bytes;
//! - a silent unauthenticated connection on IMAP, POP3 and SMTP (held
//!   5 s, then dropped by us if the server has not);
//! - SEARCH HEADER, LIST with a 64 KiB pattern of `*`, a sequence set of
//!   20,000 ranges, a `SEARCH TEXT` prefix;
//! - wrong passwords for the victim over IMAP and POP3;
//! - a DSN request (`NOTIFY=SUCCESS RET=FULL`) for a remote sender on the MX.
//!
//! Attackers connect from 127.0.0.2, the normal clients from 127.0.0.1.
//! Every loop is bounded by SECONDS; every read by a timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::seed::{DOMAIN, PASSWORD};

/// Where each protocol listens.
#[derive(Clone, Copy)]
pub struct Targets {
    pub imap: SocketAddr,
    pub pop3: SocketAddr,
    pub smtp: SocketAddr,
}

/// How long an attacker waits for any one reply.
const ATTACK_READ: Duration = Duration::from_secs(10);

/// Counters of one protocol's normal clients.
#[derive(Default)]
struct Normal {
    ops: AtomicU64,
    errors: AtomicU64,
}

pub fn run(
    targets: Targets,
    users: usize,
    normal: usize,
    attackers: usize,
    seconds: u64,
) -> Result<(), String> {
    if users < 5 || normal == 0 {
        return Err("need at least 5 users and one normal client".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let normal_users = users - 2;
        let (imap, pop3, smtp) = (
            Arc::new(Normal::default()),
            Arc::new(Normal::default()),
            Arc::new(Normal::default()),
        );
        let mut imap_tasks = Vec::new();
        let mut pop3_tasks = Vec::new();
        let mut smtp_tasks = Vec::new();
        // A third of the normal clients per protocol. POP3 allows one session
        // per maildrop: each POP3 client has its own users.
        let per = normal.div_ceil(3);
        for client in 0..per {
            let (halt, counters) = (stop.clone(), imap.clone());
            imap_tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut round = 0;
                while !halt.load(Ordering::Relaxed) {
                    let user = (client + round * per) % normal_users;
                    round += 1;
                    match crate::imap::session(targets.imap, user, round, &mut lat).await {
                        Ok(n) => {
                            counters.ops.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(e) => note_error(&counters, "imap", &e).await,
                    };
                }
                lat
            }));
            let (halt, counters) = (stop.clone(), pop3.clone());
            pop3_tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mine: Vec<usize> = (client..normal_users).step_by(per).collect();
                let mut round = 0;
                while !halt.load(Ordering::Relaxed) && !mine.is_empty() {
                    let user = mine[round % mine.len()];
                    round += 1;
                    let t = Instant::now();
                    match crate::pop3::session(targets.pop3, user).await {
                        Ok(_) => {
                            lat.push(t.elapsed());
                            counters.ops.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => note_error(&counters, "pop3", &e).await,
                    };
                }
                lat
            }));
            let (halt, counters) = (stop.clone(), smtp.clone());
            smtp_tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let body = crate::smtp::payload(
                    format!("From: load@example.net\r\nTo: u{client}@{DOMAIN}\r\nSubject: normal\r\n\r\nhello\r\n").as_bytes(),
                );
                let mut round = 0;
                while !halt.load(Ordering::Relaxed) {
                    let mut conn = match crate::smtp::connect(targets.smtp).await {
                        Ok(c) => c,
                        Err(e) => {
                            note_error(&counters, "smtp", &e).await;
                            continue;
                        }
                    };
                    // Ten messages per connection, as a relaying MTA would.
                    for _ in 0..10 {
                        let user = (client + round * per) % normal_users;
                        round += 1;
                        let t = Instant::now();
                        match crate::smtp::message(&mut conn, user, &body).await {
                            Ok(()) => {
                                lat.push(t.elapsed());
                                counters.ops.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                note_error(&counters, "smtp", &e).await;
                                break;
                            }
                        }
                        if halt.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                }
                lat
            }));
        }
        let attacks = Arc::new(AtomicU64::new(0));
        let mut attack_tasks = Vec::new();
        for a in 0..attackers {
            let (stop, attacks) = (stop.clone(), attacks.clone());
            attack_tasks.push(tokio::spawn(async move {
                let mut i = a;
                while !stop.load(Ordering::Relaxed) {
                    // Outcomes are not errors: refusing is the point.
                    let _ = timeout(Duration::from_secs(30), attack(targets, users, i)).await;
                    attacks.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let imap_lat = crate::latency::gather(imap_tasks).await?;
        let pop3_lat = crate::latency::gather(pop3_tasks).await?;
        let smtp_lat = crate::latency::gather(smtp_tasks).await?;
        for t in attack_tasks {
            t.abort();
        }
        let elapsed = start.elapsed().as_secs_f64();
        for (name, what, counters, lat) in [
            ("imap", "commands", &imap, &imap_lat),
            ("pop3", "sessions", &pop3, &pop3_lat),
            ("smtp", "messages", &smtp, &smtp_lat),
        ] {
            println!(
                "hostile {name}: {:.0} {what}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                counters.ops.load(Ordering::Relaxed) as f64 / elapsed,
                lat.ms(0.5),
                lat.ms(0.99),
                counters.errors.load(Ordering::Relaxed),
            );
        }
        println!(
            "hostile: {attackers} attackers made {} attacks in {elapsed:.1} s",
            attacks.load(Ordering::Relaxed)
        );
        Ok(())
    })
}

async fn note_error(counters: &Normal, protocol: &str, e: &str) {
    if counters.errors.fetch_add(1, Ordering::Relaxed) < 5 {
        eprintln!("{protocol} normal session error: {e}");
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// A raw connection: write bytes, read whatever comes.
struct Raw(TcpStream);

impl Raw {
    /// Connects from 127.0.0.2 (the normal clients come from 127.0.0.1):
    /// an attacker has an address of its own, and the per-IP limits it
    /// trips are not the normal clients'.
    async fn connect(addr: SocketAddr) -> Result<Raw, String> {
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        socket
            .bind(SocketAddr::from(([127, 0, 0, 2], 0)))
            .map_err(|e| e.to_string())?;
        let tcp = socket.connect(addr).await.map_err(|e| e.to_string())?;
        let mut raw = Raw(tcp);
        raw.read_some().await?;
        Ok(raw)
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.0.write_all(bytes).await.map_err(|e| e.to_string())
    }

    /// Reads one chunk (empty at end of stream).
    async fn read_some(&mut self) -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = timeout(ATTACK_READ, self.0.read(&mut buf))
            .await
            .map_err(|_| "timeout".to_string())?
            .map_err(|e| e.to_string())?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Reads until `needle` appears (or the stream ends); returns whether it did.
    async fn read_until(&mut self, needle: &[u8]) -> Result<bool, String> {
        let mut seen = Vec::new();
        loop {
            let chunk = self.read_some().await?;
            if chunk.is_empty() {
                return Ok(false);
            }
            seen.extend_from_slice(&chunk);
            if seen.windows(needle.len()).any(|w| w == needle) {
                return Ok(true);
            }
            // Only the tail can still hold the start of the needle.
            let keep = seen.len().saturating_sub(needle.len());
            seen.drain(..keep);
        }
    }

    async fn imap(&mut self, tag: &str, cmd: &str) -> Result<(), String> {
        self.send(format!("{tag} {cmd}\r\n").as_bytes()).await?;
        self.read_until(format!("\r\n{tag} ").as_bytes()).await?;
        Ok(())
    }

    async fn imap_login(addr: SocketAddr, user: usize) -> Result<Raw, String> {
        let mut c = Raw::connect(addr).await?;
        c.imap("l", &format!("LOGIN u{user}@{DOMAIN} {PASSWORD}"))
            .await?;
        Ok(c)
    }
}

/// One attack, the `i`-th kind (modulo the number of kinds).
async fn attack(t: Targets, users: usize, i: usize) -> Result<(), String> {
    let own = users - 2;
    let victim = users - 1;
    match i % 11 {
        0 => {
            let mut c = Raw::imap_login(t.imap, own).await?;
            c.imap("z", "COMPRESS DEFLATE").await?;
            c.send(&[0x03, 0x00, 0x41]).await?;
            while !c.read_some().await?.is_empty() {}
        }
        1 => {
            let mut c = Raw::imap_login(t.imap, own).await?;
            c.imap("s", "SELECT INBOX").await?;
            // The long References chain: appended by the first attacks of
            // this kind only (attackers 0 and 1), then threaded by every one.
            if i < 11 {
                let mut refs = String::from("References:");
                for n in 0..60_000 {
                    refs.push_str(&format!(" <r{n}@bomb.example>\r\n"));
                }
                let msg = format!(
                    "From: a@example.net\r\nSubject: references bomb\r\n{refs}\r\nbody\r\n"
                );
                c.send(format!("a APPEND INBOX {{{}+}}\r\n", msg.len()).as_bytes())
                    .await?;
                c.send(msg.as_bytes()).await?;
                c.send(b"\r\n").await?;
                c.read_until(b"\r\na ").await?;
            }
            c.imap("t", "THREAD REFERENCES UTF-8 ALL").await?;
            c.imap("o", "SORT (SUBJECT) UTF-8 ALL").await?;
        }
        2 => {
            let mut c = Raw::imap_login(t.imap, own).await?;
            c.imap("s", "EXAMINE INBOX").await?;
            let items = vec!["BODY.PEEK[]"; 3000].join(" ");
            c.send(format!("f FETCH 1 ({items})\r\n").as_bytes())
                .await?;
            // Gone at once: the server must not go on building the reply.
        }
        3 => {
            let mut c = Raw::connect(t.imap).await?;
            c.send(b"a APPEND INBOX {52428800+}\r\n").await?;
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..160 {
                if c.send(&chunk).await.is_err() {
                    break;
                }
            }
        }
        4 => {
            let mut idle = Vec::new();
            for addr in [t.imap, t.pop3, t.smtp] {
                idle.push(Raw::connect(addr).await?);
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        5 => {
            let mut c = Raw::imap_login(t.imap, own).await?;
            c.imap("s", "EXAMINE INBOX").await?;
            c.imap("h", "SEARCH HEADER X-Nothing-Here zzz").await?;
            c.imap("x", "SEARCH TEXT a*").await?;
        }
        6 => {
            let mut c = Raw::imap_login(t.imap, own).await?;
            let stars = "*".repeat(64 * 1024 - 100);
            c.imap("l", &format!("LIST \"\" \"{stars}a\"")).await?;
        }
        7 => {
            let mut c = Raw::imap_login(t.imap, own).await?;
            c.imap("s", "EXAMINE INBOX").await?;
            let set: Vec<String> = (0..20_000)
                .map(|n| format!("{}:{}", n * 3 + 1, n * 3 + 2))
                .collect();
            c.imap(
                "f",
                &format!("UID FETCH {},1:4294967295 (FLAGS)", set.join(",")),
            )
            .await?;
        }
        8 => {
            let mut c = Raw::connect(t.imap).await?;
            for n in 0..3 {
                c.imap(
                    &format!("g{n}"),
                    &format!("LOGIN u{victim}@{DOMAIN} wrong{n}"),
                )
                .await?;
            }
        }
        9 => {
            let mut c = Raw::connect(t.pop3).await?;
            c.send(format!("USER u{victim}@{DOMAIN}\r\n").as_bytes())
                .await?;
            c.read_some().await?;
            c.send(b"PASS wrong\r\n").await?;
            c.read_some().await?;
        }
        _ => {
            let mut c = Raw::connect(t.smtp).await?;
            for line in [
                "EHLO attacker.example.net".to_string(),
                "MAIL FROM:<victim@example.net> RET=FULL".to_string(),
                format!("RCPT TO:<u{own}@{DOMAIN}> NOTIFY=SUCCESS,FAILURE"),
                "DATA".to_string(),
            ] {
                c.send(format!("{line}\r\n").as_bytes()).await?;
                c.read_some().await?;
            }
            c.send(b"Subject: backscatter\r\n\r\nspam for the victim\r\n.\r\nQUIT\r\n")
                .await?;
            c.read_some().await?;
        }
    }
    Ok(())
}
