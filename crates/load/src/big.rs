//! The big-message workload (hardening issue, item 5): CLIENTS concurrent
//! transfers of one message of MIB MiB each, in one of three modes:
//! - `smtp`: EHLO, MAIL, RCPT `u<i>@bench.test` (cycling over USERS), DATA
//!   with the whole message, QUIT;
//! - `append`: LOGIN `u<i>`, APPEND INBOX with a synchronizing literal;
//! - `fetch`: LOGIN `u<i>`, SELECT INBOX, `FETCH * BODY.PEEK[]` (the last
//!   message, e.g. the one `append` put there), the literal read whole.
//!
//! Prints the time taken, the throughput (MiB moved per second, all
//! clients together), per-transfer latency percentiles and the errors. The
//! message is base64 lines of pseudo-random bytes under a short header
//! that names the client, so that every client's message is distinct (a
//! store that keeps one copy of identical messages must still write each
//! one). Bounded: 300 s at most.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::seed::DOMAIN;

type Conn = BufReader<TcpStream>;

const TIME_LIMIT: Duration = Duration::from_secs(300);
const PASSWORD: &str = "pw";

/// The header of client `client`'s message of `mib` MiB.
fn head(mib: usize, client: usize) -> Vec<u8> {
    format!(
        "From: load@example.net\r\nTo: someone@{DOMAIN}\r\nSubject: big {mib} MiB\r\n\
         Message-ID: <big{mib}.{client}@load>\r\nMIME-Version: 1.0\r\n\
         Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes()
}

/// The body of a message of about `mib` MiB: 76-character base64 lines
/// (no line starts with a dot, so it needs no SMTP dot-stuffing).
fn body(mib: usize) -> Vec<u8> {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let size = mib * 1024 * 1024 - head(mib, 0).len();
    let mut m = Vec::with_capacity(size);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while m.len() + 78 <= size {
        for _ in 0..76 {
            // xorshift64: cheap, deterministic, incompressible enough.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            m.push(B64[(x & 63) as usize]);
        }
        m.extend_from_slice(b"\r\n");
    }
    m
}

async fn line(c: &mut Conn) -> Result<String, String> {
    let mut l = String::new();
    let n = c.read_line(&mut l).await.map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("connection closed".into());
    }
    Ok(l)
}

async fn send(c: &mut Conn, data: &[u8]) -> Result<(), String> {
    c.get_mut().write_all(data).await.map_err(|e| e.to_string())
}

/// An SMTP reply's code (multi-line replies read to their end).
async fn smtp_reply(c: &mut Conn, want: u16) -> Result<(), String> {
    loop {
        let l = line(c).await?;
        if l.as_bytes().get(3) == Some(&b'-') {
            continue;
        }
        return if l.starts_with(&want.to_string()) {
            Ok(())
        } else {
            Err(format!("server said: {}", l.trim_end()))
        };
    }
}

async fn smtp(addr: SocketAddr, user: usize, head: &[u8], payload: &[u8]) -> Result<(), String> {
    let mut c = BufReader::new(TcpStream::connect(addr).await.map_err(|e| e.to_string())?);
    smtp_reply(&mut c, 220).await?;
    for (cmd, code) in [
        ("EHLO load.test\r\n".to_string(), 250),
        ("MAIL FROM:<load@example.net>\r\n".to_string(), 250),
        (format!("RCPT TO:<u{user}@{DOMAIN}>\r\n"), 250),
        ("DATA\r\n".to_string(), 354),
    ] {
        send(&mut c, cmd.as_bytes()).await?;
        smtp_reply(&mut c, code).await?;
    }
    send(&mut c, head).await?;
    send(&mut c, payload).await?;
    smtp_reply(&mut c, 250).await?;
    send(&mut c, b"QUIT\r\n").await?;
    Ok(())
}

/// Reads IMAP lines up to the tagged one, which must be OK; a line ending
/// in a literal `{n}` has its n bytes read (and counted) too.
async fn imap_until(c: &mut Conn, tag: &str) -> Result<u64, String> {
    let mut literal_bytes = 0u64;
    loop {
        let l = line(c).await?;
        if let Some(n) = l
            .trim_end()
            .strip_suffix('}')
            .and_then(|s| s.rsplit_once('{'))
            .and_then(|(_, n)| n.parse::<u64>().ok())
        {
            let mut sink = tokio::io::sink();
            let got = tokio::io::copy(&mut (&mut *c).take(n), &mut sink)
                .await
                .map_err(|e| e.to_string())?;
            if got != n {
                return Err("connection closed inside a literal".into());
            }
            literal_bytes += n;
            continue;
        }
        if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
            return if rest.starts_with("OK") {
                Ok(literal_bytes)
            } else {
                Err(format!("server said: {}", l.trim_end()))
            };
        }
    }
}

async fn imap_login(addr: SocketAddr, user: usize) -> Result<Conn, String> {
    let mut c = BufReader::new(TcpStream::connect(addr).await.map_err(|e| e.to_string())?);
    line(&mut c).await?;
    send(
        &mut c,
        format!("l LOGIN u{user}@{DOMAIN} {PASSWORD}\r\n").as_bytes(),
    )
    .await?;
    imap_until(&mut c, "l").await?;
    Ok(c)
}

async fn append(addr: SocketAddr, user: usize, head: &[u8], m: &[u8]) -> Result<(), String> {
    let mut c = imap_login(addr, user).await?;
    send(
        &mut c,
        format!("a APPEND INBOX {{{}}}\r\n", head.len() + m.len()).as_bytes(),
    )
    .await?;
    let l = line(&mut c).await?;
    if !l.starts_with('+') {
        return Err(format!("no continuation: {}", l.trim_end()));
    }
    send(&mut c, head).await?;
    send(&mut c, m).await?;
    send(&mut c, b"\r\n").await?;
    imap_until(&mut c, "a").await?;
    send(&mut c, b"z LOGOUT\r\n").await?;
    Ok(())
}

async fn fetch(addr: SocketAddr, user: usize, size: usize) -> Result<(), String> {
    let mut c = imap_login(addr, user).await?;
    send(&mut c, b"s SELECT INBOX\r\n").await?;
    imap_until(&mut c, "s").await?;
    send(&mut c, b"f FETCH * (BODY.PEEK[])\r\n").await?;
    let got = imap_until(&mut c, "f").await?;
    if got < size as u64 {
        return Err(format!("fetched {got} bytes, expected at least {size}"));
    }
    send(&mut c, b"z LOGOUT\r\n").await?;
    Ok(())
}

pub fn run(
    mode: &str,
    addr: SocketAddr,
    users: usize,
    clients: usize,
    mib: usize,
) -> Result<(), String> {
    if clients == 0 || users == 0 || mib == 0 {
        return Err("need users, clients and a size".into());
    }
    if !matches!(mode, "smtp" | "append" | "fetch") {
        return Err(format!("unknown mode {mode} (smtp, append, fetch)"));
    }
    let m = Arc::new(body(mib));
    let payload = Arc::new(if mode == "smtp" {
        crate::smtp::payload(&m)
    } else {
        Vec::new()
    });
    let size = head(mib, 0).len() + m.len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..clients {
            let (m, payload, mode) = (Arc::clone(&m), Arc::clone(&payload), mode.to_string());
            let user = i % users;
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let head = head(mib, i);
                let work = async {
                    match mode.as_str() {
                        "smtp" => smtp(addr, user, &head, &payload).await,
                        "append" => append(addr, user, &head, &m).await,
                        _ => fetch(addr, user, size).await,
                    }
                };
                let r = match tokio::time::timeout(TIME_LIMIT, work).await {
                    Ok(r) => r,
                    Err(_) => Err("time limit".to_string()),
                };
                (t.elapsed(), r)
            }));
        }
        let mut lat = Vec::new();
        let mut errors = Vec::new();
        for t in tasks {
            let (d, r) = t.await.map_err(|e| e.to_string())?;
            match r {
                Ok(()) => lat.push(d),
                Err(e) => errors.push(e),
            }
        }
        let secs = start.elapsed().as_secs_f64();
        lat.sort();
        let lat = crate::latency::Latencies(lat);
        let moved = (lat.len() * size) as f64 / (1024.0 * 1024.0);
        println!(
            "{mode}: {} x {:.1} MiB in {secs:.1} s: {:.1} MiB/s; per transfer p50 {:.0} ms, max {:.0} ms; {} errors{}",
            lat.len(),
            size as f64 / (1024.0 * 1024.0),
            moved / secs,
            lat.ms(0.5),
            lat.ms(1.0),
            errors.len(),
            errors
                .first()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        Ok(())
    })
}
