//! The POP3 workload: sessions of USER/PASS, STAT, UIDL, RETR every message,
//! QUIT, from concurrent clients for a fixed time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::seed::{DOMAIN, PASSWORD};

type Conn = BufReader<TcpStream>;

async fn line(c: &mut Conn) -> Result<String, String> {
    let mut l = String::new();
    let n = c.read_line(&mut l).await.map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("connection closed".into());
    }
    Ok(l)
}

async fn ok(c: &mut Conn) -> Result<String, String> {
    let l = line(c).await?;
    if l.starts_with("+OK") {
        Ok(l)
    } else {
        Err(format!("server said: {}", l.trim_end()))
    }
}

async fn command(c: &mut Conn, cmd: &str) -> Result<String, String> {
    c.get_mut()
        .write_all(cmd.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    c.get_mut()
        .write_all(b"\r\n")
        .await
        .map_err(|e| e.to_string())?;
    ok(c).await
}

/// Reads a multi-line response body up to the terminating `.` line; returns
/// its size in bytes.
async fn multiline(c: &mut Conn) -> Result<u64, String> {
    let mut total = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = c
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed in a multi-line response".into());
        }
        if buf == b".\r\n" {
            return Ok(total);
        }
        total += n as u64;
    }
}

/// One session; returns the number of messages retrieved.
pub(crate) async fn session(addr: SocketAddr, user: usize) -> Result<u64, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(crate::nodelay())
        .map_err(|e| e.to_string())?;
    let mut c = BufReader::with_capacity(64 * 1024, tcp);
    ok(&mut c).await?;
    command(&mut c, &format!("USER u{user}@{DOMAIN}")).await?;
    command(&mut c, &format!("PASS {PASSWORD}")).await?;
    let stat = command(&mut c, "STAT").await?;
    let count: u64 = stat
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("bad STAT reply: {stat}"))?;
    command(&mut c, "UIDL").await?;
    multiline(&mut c).await?;
    for i in 1..=count {
        command(&mut c, &format!("RETR {i}")).await?;
        multiline(&mut c).await?;
    }
    command(&mut c, "QUIT").await?;
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest).await;
    Ok(count)
}

pub fn run(addr: SocketAddr, users: usize, clients: usize, seconds: u64) -> Result<(), String> {
    if clients == 0 || users < clients {
        return Err(format!(
            "need at least one user per client ({users} users, {clients} clients)"
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let messages = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for client in 0..clients {
            let (stop, messages, errors) = (stop.clone(), messages.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                // Each client cycles over its own users (client, client +
                // clients, ...): POP3 allows one session per maildrop.
                let mine: Vec<usize> = (client..users).step_by(clients).collect();
                let mut round = 0usize;
                while !stop.load(Ordering::Relaxed) && !mine.is_empty() {
                    let user = mine[round % mine.len()];
                    round += 1;
                    let t = Instant::now();
                    match session(addr, user).await {
                        Ok(n) => {
                            messages.fetch_add(n, Ordering::Relaxed);
                            latencies.push(t.elapsed());
                        }
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("session error: {e}");
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                latencies
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let latencies = crate::latency::gather(tasks).await?;
        let elapsed = start.elapsed().as_secs_f64();
        let msgs = messages.load(Ordering::Relaxed);
        println!(
            "pop3 {addr}: {:.0} messages/s, {:.1} sessions/s, session p50 {:.1} ms, p99 {:.1} ms, {} errors ({} sessions, {elapsed:.1} s)",
            msgs as f64 / elapsed,
            latencies.len() as f64 / elapsed,
            latencies.ms(0.5),
            latencies.ms(0.99),
            errors.load(Ordering::Relaxed),
            latencies.len()
        );
        Ok(())
    })
}
