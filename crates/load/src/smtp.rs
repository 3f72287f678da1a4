//! The SMTP workload: SESSIONS concurrent connections, each saying EHLO once
//! and then sending messages one after the other (MAIL, RCPT, DATA, no
//! pipelining) until MESSAGES have been accepted in total or 120 s passed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::seed::{DOMAIN, messages};

type Conn = BufReader<TcpStream>;

/// The hard stop, whatever MESSAGES says.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// How many distinct messages are taken from the corpus (cycled after).
const DISTINCT: usize = 500;

/// Reads a (possibly multi-line) reply; returns its code and last line.
async fn reply(c: &mut Conn) -> Result<(u16, String), String> {
    loop {
        let mut l = String::new();
        let n = c.read_line(&mut l).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        let code = l
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad reply: {}", l.trim_end()))?;
        if l.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, l));
        }
    }
}

async fn expect(c: &mut Conn, want: u16) -> Result<(), String> {
    let (code, l) = reply(c).await?;
    if code == want {
        Ok(())
    } else {
        Err(format!("server said: {}", l.trim_end()))
    }
}

async fn send(c: &mut Conn, data: &[u8]) -> Result<(), String> {
    c.get_mut().write_all(data).await.map_err(|e| e.to_string())
}

/// The DATA payload: dot-stuffed, CRLF-terminated, with the final `.`.
pub(crate) fn payload(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() + 64);
    let mut at_line_start = true;
    for &b in m {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

pub(crate) async fn connect(addr: SocketAddr) -> Result<Conn, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(crate::nodelay())
        .map_err(|e| e.to_string())?;
    let mut c = BufReader::with_capacity(16 * 1024, tcp);
    expect(&mut c, 220).await?;
    send(&mut c, b"EHLO load.example.net\r\n").await?;
    expect(&mut c, 250).await?;
    Ok(c)
}

pub(crate) async fn message(c: &mut Conn, user: usize, data: &[u8]) -> Result<(), String> {
    send(c, b"MAIL FROM:<load@example.net>\r\n").await?;
    expect(c, 250).await?;
    send(c, format!("RCPT TO:<u{user}@{DOMAIN}>\r\n").as_bytes()).await?;
    expect(c, 250).await?;
    send(c, b"DATA\r\n").await?;
    expect(c, 354).await?;
    send(c, data).await?;
    expect(c, 250).await
}

pub fn run(
    addr: SocketAddr,
    users: usize,
    sessions: usize,
    total: usize,
    corpus: Option<&Path>,
) -> Result<(), String> {
    if sessions == 0 || users == 0 {
        return Err("need at least one session and one user".into());
    }
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        messages(total.clamp(1, DISTINCT), corpus)?
            .iter()
            .map(|m| payload(m))
            .collect(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        // Each message number is taken once: MESSAGES bounds the total.
        let next = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let deadline = start + TIME_LIMIT;
        let mut tasks = Vec::new();
        for _ in 0..sessions {
            let (next, errors, bodies) = (next.clone(), errors.clone(), bodies.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut conn: Option<Conn> = None;
                let note = |e: String| {
                    if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("smtp error: {e}");
                    }
                };
                loop {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let c = match conn.as_mut() {
                        Some(c) => c,
                        None => match connect(addr).await {
                            Ok(c) => conn.insert(c),
                            Err(e) => {
                                note(e);
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        },
                    };
                    let t = Instant::now();
                    let left = deadline.saturating_duration_since(t);
                    match tokio::time::timeout(
                        left,
                        message(c, i % users, &bodies[i % bodies.len()]),
                    )
                    .await
                    {
                        Ok(Ok(())) => latencies.push(t.elapsed()),
                        Ok(Err(e)) => {
                            note(e);
                            conn = None;
                        }
                        Err(_) => {
                            note("time limit reached".into());
                            break;
                        }
                    }
                }
                if let Some(c) = conn.as_mut() {
                    let _ = send(c, b"QUIT\r\n").await;
                    let _ = tokio::time::timeout(Duration::from_secs(1), reply(c)).await;
                }
                latencies
            }));
        }
        let latencies = crate::latency::gather(tasks).await?;
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "smtp {addr}: {:.0} messages/s accepted, message p50 {:.1} ms, p99 {:.1} ms, max {:.0} ms, {} errors ({} messages, {elapsed:.1} s)",
            latencies.len() as f64 / elapsed,
            latencies.ms(0.5),
            latencies.ms(0.99),
            latencies.0.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            errors.load(Ordering::Relaxed),
            latencies.len()
        );
        Ok(())
    })
}
