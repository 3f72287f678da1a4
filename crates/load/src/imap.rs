//! The IMAP workloads.
//!
//! `imap`: concurrent clients, each repeatedly doing a session in a
//! realistic mix: LOGIN, SELECT INBOX, FETCH 1:* (FLAGS), UID FETCH of
//! envelopes, a BODY.PEEK[] of one message, STORE +FLAGS/-FLAGS, SEARCH,
//! NOOP, APPEND of a small message then UID STORE \Deleted and UID EXPUNGE of
//! that one (so the mailbox stays as seeded), LOGOUT. Counts commands and
//! their latency.
//!
//! `imap-persistent`: CLIENTS sessions that each log in once (user
//! `client % USERS`) and then cycle, until the time is up: LIST "" "*",
//! STATUS INBOX, SELECT INBOX, FETCH 1:* (FLAGS), a FETCH of the headers of
//! up to five messages, a FETCH of one whole message, STORE +FLAGS / -FLAGS
//! (\Seen) on it (alternating), UID STORE +FLAGS.SILENT (\Deleted) on the
//! message this session appended in its previous cycle, EXPUNGE, and APPEND
//! of a small message. The mailbox stays at its seeded size (plus one). The
//! login is not counted: this is the steady state of clients that stay
//! connected (Thunderbird, K-9, a phone). Reports commands/s, p50 and p99 of
//! all commands, and p50/p99 of APPEND alone (the command that carries a
//! literal, where Nagle's algorithm shows).
//!
//! `idle`: opens CONNECTIONS sessions that LOGIN, SELECT INBOX and IDLE, and
//! holds them for a while: the server's memory with that many idle clients is
//! what the benchmark reads. Past 20,000 connections they come from further
//! loopback source addresses (127.0.0.2, …), since one source address has
//! only about 28,000 ephemeral ports.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::seed::{DOMAIN, PASSWORD};

struct Client {
    conn: BufReader<TcpStream>,
    tag: u64,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Result<Client, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        Client::start(tcp, 64 * 1024).await
    }

    /// Connects from the loopback source address `source` (a loopback
    /// address has about 28,000 ephemeral ports; more connections to one
    /// server need several), with a small read buffer.
    async fn connect_from(addr: SocketAddr, source: std::net::IpAddr) -> Result<Client, String> {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .map_err(|e| e.to_string())?;
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| format!("bind {source}: {e}"))?;
        let tcp = socket.connect(addr).await.map_err(|e| e.to_string())?;
        Client::start(tcp, 1024).await
    }

    async fn start(tcp: TcpStream, buffer: usize) -> Result<Client, String> {
        tcp.set_nodelay(crate::nodelay())
            .map_err(|e| e.to_string())?;
        let mut c = Client {
            conn: BufReader::with_capacity(buffer, tcp),
            tag: 0,
        };
        let greeting = c.line().await?;
        if !greeting.starts_with(b"* OK") {
            return Err(format!("greeting: {}", String::from_utf8_lossy(&greeting)));
        }
        Ok(c)
    }

    /// One response line, with any literal it announces read into it.
    async fn line(&mut self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        loop {
            let start = out.len();
            let n = self
                .conn
                .read_until(b'\n', &mut out)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            // A literal: `{n}\r\n` at the end of the line, then n bytes.
            let l = &out[start..];
            let Some(open) = l.iter().rposition(|&b| b == b'{') else {
                return Ok(out);
            };
            let inner = &l[open + 1..l.len().saturating_sub(3)];
            if !l.ends_with(b"}\r\n") || inner.is_empty() || !inner.iter().all(u8::is_ascii_digit) {
                return Ok(out);
            }
            let size: usize = String::from_utf8_lossy(inner)
                .parse()
                .map_err(|_| "bad literal")?;
            let mut lit = vec![0u8; size];
            self.conn
                .read_exact(&mut lit)
                .await
                .map_err(|e| e.to_string())?;
            out.extend_from_slice(&lit);
        }
    }

    /// Sends a command (with an optional LITERAL+ payload) and reads to its
    /// tagged completion, which must be OK. Returns the untagged lines and,
    /// last, the completion.
    async fn command(&mut self, cmd: &str, literal: Option<&[u8]>) -> Result<Vec<Vec<u8>>, String> {
        self.tag += 1;
        let tag = format!("a{}", self.tag);
        let mut wire = format!("{tag} {cmd}").into_bytes();
        if let Some(lit) = literal {
            wire.extend_from_slice(format!(" {{{}+}}\r\n", lit.len()).as_bytes());
            wire.extend_from_slice(lit);
        }
        wire.extend_from_slice(b"\r\n");
        self.conn
            .get_mut()
            .write_all(&wire)
            .await
            .map_err(|e| e.to_string())?;
        let mut lines = Vec::new();
        loop {
            let l = self.line().await?;
            if l.starts_with(tag.as_bytes()) && l.get(tag.len()) == Some(&b' ') {
                let rest = &l[tag.len() + 1..];
                if rest.starts_with(b"OK") {
                    // The completion too: it carries codes like APPENDUID.
                    lines.push(l);
                    return Ok(lines);
                }
                return Err(format!("{cmd}: {}", String::from_utf8_lossy(&l).trim_end()));
            }
            lines.push(l);
        }
    }
}

/// The UID from an APPENDUID response code (RFC 4315).
fn append_uid(lines: &[Vec<u8>]) -> Option<u32> {
    lines.iter().find_map(|l| {
        let s = String::from_utf8_lossy(l);
        let i = s.find("APPENDUID ")?;
        s[i..]
            .split_whitespace()
            .nth(2)?
            .trim_end_matches(']')
            .parse()
            .ok()
    })
}

/// One session of the mix; returns the number of commands done and adds
/// each command's latency to `lat`.
pub(crate) async fn session(
    addr: SocketAddr,
    user: usize,
    round: usize,
    lat: &mut Vec<Duration>,
) -> Result<u64, String> {
    let mut c = Client::connect(addr).await?;
    let mut n = 0u64;
    let mut timed =
        async |c: &mut Client, cmd: &str, lit: Option<&[u8]>| -> Result<Vec<Vec<u8>>, String> {
            let t = Instant::now();
            let r = c.command(cmd, lit).await;
            lat.push(t.elapsed());
            n += 1;
            r
        };
    timed(&mut c, &format!("LOGIN u{user}@{DOMAIN} {PASSWORD}"), None).await?;
    let select = timed(&mut c, "SELECT INBOX", None).await?;
    // EXISTS, less any EXPUNGE the server sent after it in the same reply
    // (another session of the same user may expunge meanwhile).
    let mut exists: u32 = 0;
    for l in &select {
        let s = String::from_utf8_lossy(l);
        let Some(rest) = s.strip_prefix("* ") else {
            continue;
        };
        if let Some(n) = rest
            .strip_suffix(" EXISTS\r\n")
            .and_then(|n| n.parse().ok())
        {
            exists = n;
        } else if rest.ends_with(" EXPUNGE\r\n") {
            exists = exists.saturating_sub(1);
        }
    }
    timed(&mut c, "FETCH 1:* (UID FLAGS)", None).await?;
    if exists > 0 {
        let pick = (round as u32 * 7) % exists + 1;
        let last = exists.min(pick + 19);
        timed(
            &mut c,
            &format!("FETCH {pick}:{last} (UID ENVELOPE RFC822.SIZE INTERNALDATE)"),
            None,
        )
        .await?;
        timed(&mut c, &format!("FETCH {pick} (BODY.PEEK[])"), None).await?;
        timed(
            &mut c,
            &format!("STORE {pick} +FLAGS.SILENT (\\Seen)"),
            None,
        )
        .await?;
        timed(
            &mut c,
            &format!("STORE {pick} -FLAGS.SILENT (\\Seen)"),
            None,
        )
        .await?;
    }
    timed(&mut c, "SEARCH UNSEEN", None).await?;
    timed(&mut c, "SEARCH FROM \"example\"", None).await?;
    timed(&mut c, "NOOP", None).await?;
    let msg = format!(
        "From: load@example.net\r\nTo: u{user}@{DOMAIN}\r\nSubject: load {round}\r\n\r\nA short message from the load generator.\r\n"
    );
    let appended = timed(&mut c, "APPEND INBOX (\\Seen)", Some(msg.as_bytes())).await?;
    if let Some(uid) = append_uid(&appended) {
        timed(
            &mut c,
            &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
            None,
        )
        .await?;
        timed(&mut c, &format!("UID EXPUNGE {uid}"), None).await?;
    }
    timed(&mut c, "LOGOUT", None).await?;
    Ok(n)
}

pub fn run(addr: SocketAddr, users: usize, clients: usize, seconds: u64) -> Result<(), String> {
    if clients == 0 || users == 0 {
        return Err("need users and clients".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let commands = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for client in 0..clients {
            let (stop, commands, errors) = (stop.clone(), commands.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut round = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let user = (client + round * clients) % users;
                    round += 1;
                    match session(addr, user, round, &mut lat).await {
                        Ok(n) => {
                            commands.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("session error: {e}");
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                lat
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let lat = crate::latency::gather(tasks).await?;
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "imap {addr}: {:.0} commands/s, command p50 {:.2} ms, p99 {:.2} ms, {} errors ({} commands, {elapsed:.1} s)",
            commands.load(Ordering::Relaxed) as f64 / elapsed,
            lat.ms(0.5),
            lat.ms(0.99),
            errors.load(Ordering::Relaxed),
            commands.load(Ordering::Relaxed)
        );
        Ok(())
    })
}

/// The number of messages after `lines`: the last untagged `* N EXISTS`,
/// less the `* n EXPUNGE`s after it (a SELECT's answer may end with the
/// expunges another session made while it ran).
fn exists_of(lines: &[Vec<u8>]) -> Option<u32> {
    let untagged = |l: &Vec<u8>, what: &str| -> Option<u32> {
        let s = std::str::from_utf8(l).ok()?;
        s.strip_prefix("* ")?
            .strip_suffix("\r\n")?
            .strip_suffix(what)?
            .parse()
            .ok()
    };
    let at = lines
        .iter()
        .rposition(|l| untagged(l, " EXISTS").is_some())?;
    let exists = untagged(&lines[at], " EXISTS")?;
    let expunged = lines[at..]
        .iter()
        .filter(|l| untagged(l, " EXPUNGE").is_some())
        .count();
    Some(exists.saturating_sub(u32::try_from(expunged).unwrap_or(u32::MAX)))
}

/// Latencies of one persistent client: every command, and APPEND alone.
#[derive(Default)]
struct PersistentLatencies {
    all: Vec<Duration>,
    append: Vec<Duration>,
}

/// One persistent session: logs in once, then cycles the mix until `stop`.
/// Counts each completed command in `commands`.
async fn persistent_session(
    addr: SocketAddr,
    user: usize,
    stop: &AtomicBool,
    commands: &AtomicU64,
    lat: &mut PersistentLatencies,
) -> Result<(), String> {
    let mut c = Client::connect(addr).await?;
    c.command(&format!("LOGIN u{user}@{DOMAIN} {PASSWORD}"), None)
        .await?;
    let msg = format!(
        "From: load@example.net\r\nTo: u{user}@{DOMAIN}\r\nSubject: persistent load\r\n\r\nA short message from the load generator.\r\n"
    );
    // The message that the next cycle marks \Deleted and expunges.
    let mut appended = append_uid(&c.command("APPEND INBOX", Some(msg.as_bytes())).await?);
    let mut round = 0u32;
    while !stop.load(Ordering::Relaxed) {
        round = round.wrapping_add(1);
        let mut timed = async |c: &mut Client, cmd: &str| -> Result<Vec<Vec<u8>>, String> {
            let t = Instant::now();
            let r = c.command(cmd, None).await;
            lat.all.push(t.elapsed());
            commands.fetch_add(1, Ordering::Relaxed);
            r
        };
        timed(&mut c, "LIST \"\" \"*\"").await?;
        timed(&mut c, "STATUS INBOX (MESSAGES UIDNEXT UNSEEN)").await?;
        let exists = exists_of(&timed(&mut c, "SELECT INBOX").await?).unwrap_or(0);
        timed(&mut c, "FETCH 1:* (FLAGS)").await?;
        if exists > 0 {
            let pick = round.wrapping_mul(7) % exists + 1;
            let last = exists.min(pick + 4);
            timed(
                &mut c,
                &format!("FETCH {pick}:{last} (UID RFC822.SIZE BODY.PEEK[HEADER])"),
            )
            .await?;
            timed(&mut c, &format!("FETCH {pick} (BODY.PEEK[])")).await?;
            let sign = if round.is_multiple_of(2) { '-' } else { '+' };
            timed(&mut c, &format!("STORE {pick} {sign}FLAGS (\\Seen)")).await?;
        }
        if let Some(uid) = appended {
            timed(
                &mut c,
                &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
            )
            .await?;
        }
        timed(&mut c, "EXPUNGE").await?;
        let t = Instant::now();
        let r = c.command("APPEND INBOX", Some(msg.as_bytes())).await;
        let took = t.elapsed();
        lat.all.push(took);
        lat.append.push(took);
        commands.fetch_add(1, Ordering::Relaxed);
        appended = append_uid(&r?);
    }
    // Leave the mailbox as seeded.
    if let Some(uid) = appended {
        c.command("SELECT INBOX", None).await?;
        c.command(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"), None)
            .await?;
        c.command("EXPUNGE", None).await?;
    }
    c.command("LOGOUT", None).await?;
    Ok(())
}

/// The persistent mix (see the module docs) with `clients` sessions for
/// `seconds`.
pub fn persistent(
    addr: SocketAddr,
    users: usize,
    clients: usize,
    seconds: u64,
) -> Result<(), String> {
    if clients == 0 || users == 0 {
        return Err("need users and clients".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let commands = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        // Several generators splitting one load over nodes give each a
        // slice of the users (`TIDINGS_LOAD_FIRST_CLIENT`: this one's
        // clients are numbered from there), as one generator would.
        let first: usize = std::env::var("TIDINGS_LOAD_FIRST_CLIENT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        for client in first..first + clients {
            let (stop, commands, errors) = (stop.clone(), commands.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = PersistentLatencies::default();
                while !stop.load(Ordering::Relaxed) {
                    let user = client % users;
                    if let Err(e) =
                        persistent_session(addr, user, &stop, &commands, &mut lat).await
                    {
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("session error: {e}");
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                lat
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let elapsed = start.elapsed().as_secs_f64();
        let done = commands.load(Ordering::Relaxed);
        let (mut all, mut append) = (Vec::new(), Vec::new());
        for t in tasks {
            let lat = t.await.map_err(|e| e.to_string())?;
            all.extend(lat.all);
            append.extend(lat.append);
        }
        all.sort();
        append.sort();
        let (all, append) = (crate::latency::Latencies(all), crate::latency::Latencies(append));
        println!(
            "imap-persistent {addr}: {:.0} commands/s, command p50 {:.2} ms, p99 {:.2} ms, APPEND p50 {:.2} ms, p99 {:.2} ms, {} errors ({done} commands, {elapsed:.1} s)",
            done as f64 / elapsed,
            all.ms(0.5),
            all.ms(0.99),
            append.ms(0.5),
            append.ms(0.99),
            errors.load(Ordering::Relaxed),
        );
        Ok(())
    })
}

/// Connections per loopback source address in `idle`. The default
/// ephemeral port range, 32768–60999, has 28,232 ports, and the ports of
/// an earlier run stay in TIME_WAIT for a minute (this side closes first):
/// with 20,000 per address, a 19,800-connection run right after a
/// 10,000-connection one found only about 18,200 free ports and the rest
/// failed to connect. 10,000 per address leaves room for one such run.
const PER_SOURCE: usize = 10_000;

/// The source address of the `i`th IDLE connection to `addr`: 127.0.0.1
/// for the first `PER_SOURCE`, then 127.0.0.2, … (all of 127/8 is
/// loopback on Linux); IPv6 has one loopback address.
fn source(addr: SocketAddr, i: usize) -> std::net::IpAddr {
    match addr {
        SocketAddr::V4(_) => {
            let n = (i / PER_SOURCE + 1).min(254) as u8;
            std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, n))
        }
        SocketAddr::V6(_) => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    }
}

/// Opens `connections` IDLE sessions, holds them `hold` seconds, and prints
/// how many were established. The caller reads the server's memory meanwhile.
pub fn idle(addr: SocketAddr, users: usize, connections: usize, hold: u64) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let established = Arc::new(AtomicU64::new(0));
        let release = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        let opening = Arc::new(tokio::sync::Semaphore::new(64));
        for i in 0..connections {
            let (established, release, opening) =
                (established.clone(), release.clone(), opening.clone());
            tasks.push(tokio::spawn(async move {
                let permit = opening.acquire_owned().await.map_err(|e| e.to_string())?;
                let mut c = Client::connect_from(addr, source(addr, i)).await?;
                c.command(
                    &format!("LOGIN u{}@{DOMAIN} {PASSWORD}", i % users.max(1)),
                    None,
                )
                .await?;
                c.command("SELECT INBOX", None).await?;
                c.conn
                    .get_mut()
                    .write_all(b"i IDLE\r\n")
                    .await
                    .map_err(|e| e.to_string())?;
                let l = c.line().await?;
                if !l.starts_with(b"+") {
                    return Err(format!("IDLE: {}", String::from_utf8_lossy(&l)));
                }
                drop(permit);
                established.fetch_add(1, Ordering::Relaxed);
                release.notified().await;
                Ok::<_, String>(c)
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(300);
        while (established.load(Ordering::Relaxed) as usize) < connections
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if tasks.iter().all(|t| t.is_finished()) {
                break;
            }
        }
        println!(
            "idle {addr}: {} of {connections} connections in IDLE",
            established.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_secs(hold)).await;
        release.notify_waiters();
        let mut errors = 0;
        for t in tasks {
            if !matches!(t.await, Ok(Ok(_))) {
                errors += 1;
            }
        }
        println!("idle {addr}: released; {errors} connections failed");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::exists_of;

    fn lines(text: &[&str]) -> Vec<Vec<u8>> {
        text.iter()
            .map(|l| format!("{l}\r\n").into_bytes())
            .collect()
    }

    #[test]
    fn exists_counts_the_expunges_reported_after_it() {
        let select = lines(&[
            "* 26 EXISTS",
            "* 0 RECENT",
            "* OK [UIDNEXT 4132] Predicted next UID",
            "* 24 EXPUNGE",
            "a1 OK [READ-WRITE] SELECT completed",
        ]);
        assert_eq!(exists_of(&select), Some(25));
        let grown = lines(&["* 3 EXPUNGE", "* 26 EXISTS", "a1 OK done"]);
        assert_eq!(exists_of(&grown), Some(26));
        assert_eq!(exists_of(&lines(&["a1 OK done"])), None);
    }
}
