//! A stub DNS server on loopback for the end-to-end tests, so no test asks
//! the system's resolver (and waits out its timeouts, or sends packets off
//! the machine). It answers from a [`Zone`] built in the test, over UDP and
//! TCP (RFC 1035 §4.2.2 length-prefixed), or never answers at all
//! ([`DnsStub::silent`]) to test what a dead resolver does. Messages are
//! encoded and decoded with `hickory-proto`. Names marked with
//! [`Zone::signed`] are answered with the AD bit, as a validating resolver
//! answers for a DNSSEC-signed zone (the stub signs nothing: the server
//! under test trusts the bit, as `[dns] dnssec = true` says it may).
//!
//! Point a server at it with `[dns] resolver = "127.0.0.1:PORT"`
//! ([`DnsStub::config`]); [`Server::start`](super::Server::start) does that
//! with an empty zone unless the test's `extra` has its own `[dns]` section.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, SRV, TLSA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The records a stub answers with. Names are matched case-insensitively,
/// without the final dot. A name with records but none of the type asked
/// gets an empty NOERROR answer; a name without records gets NXDOMAIN.
#[derive(Clone, Debug, Default)]
pub struct Zone {
    records: HashMap<String, Vec<RData>>,
    signed: HashSet<String>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    pub fn new() -> Zone {
        Zone::default()
    }

    fn add(mut self, name: &str, data: RData) -> Zone {
        self.records.entry(key(name)).or_default().push(data);
        self
    }

    /// A TXT record (one string, at most 255 octets).
    pub fn txt(self, name: &str, text: &str) -> Zone {
        self.add(name, RData::TXT(TXT::new(vec![text.to_string()])))
    }

    /// A TXT record of several strings (each at most 255 octets), as a long
    /// DKIM key is published.
    pub fn txt_strings(self, name: &str, strings: &[&str]) -> Zone {
        let strings = strings.iter().map(|s| s.to_string()).collect();
        self.add(name, RData::TXT(TXT::new(strings)))
    }

    /// An SRV record (RFC 2782).
    pub fn srv(self, name: &str, priority: u16, port: u16, target: &str) -> Zone {
        let target = Name::from_ascii(format!("{}.", key(target))).unwrap();
        self.add(name, RData::SRV(SRV::new(priority, 1, port, target)))
    }

    /// An MX record.
    pub fn mx(self, name: &str, preference: u16, exchange: &str) -> Zone {
        let exchange = Name::from_ascii(format!("{}.", key(exchange))).unwrap();
        self.add(name, RData::MX(MX::new(preference, exchange)))
    }

    /// A TLSA record (RFC 6698 §2.1): usage, selector, matching type and
    /// the certificate association data.
    pub fn tlsa(self, name: &str, usage: u8, selector: u8, matching: u8, data: &[u8]) -> Zone {
        let tlsa = TLSA::new(
            CertUsage::from(usage),
            Selector::from(selector),
            Matching::from(matching),
            data.to_vec(),
        );
        self.add(name, RData::TLSA(tlsa))
    }

    /// A CNAME record: `name` is an alias of `target`. Questions of
    /// other types about `name` are answered as a recursive resolver
    /// does: the CNAME, then the answer for `target` (and so on, 8 links
    /// at most), with the AD bit only when every name on the way is
    /// [`Zone::signed`].
    pub fn cname(self, name: &str, target: &str) -> Zone {
        let target = Name::from_ascii(format!("{}.", key(target))).unwrap();
        self.add(name, RData::CNAME(CNAME(target)))
    }

    /// Answers about `name` carry the AD bit (DNSSEC-validated).
    pub fn signed(mut self, name: &str) -> Zone {
        self.signed.insert(key(name));
        self
    }

    /// An A or AAAA record, by the address's family.
    pub fn ip(self, name: &str, ip: &str) -> Zone {
        let data = match ip.parse::<IpAddr>().unwrap() {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        self.add(name, data)
    }

    fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        let request = Message::from_vec(query).ok()?;
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.metadata.authoritative = true;
        response.edns = request.edns.clone();
        let mut authentic = !request.queries.is_empty();
        for q in &request.queries {
            response.add_query(q.clone());
            let mut owner = q.name().clone();
            for _ in 0..8 {
                let name = key(&owner.to_ascii());
                authentic &= self.signed.contains(&name);
                let Some(records) = self.records.get(&name) else {
                    response.metadata.response_code = ResponseCode::NXDomain;
                    break;
                };
                let wanted = |data: &RData| {
                    data.record_type() == q.query_type() || q.query_type() == RecordType::ANY
                };
                let alias = records.iter().find_map(|d| match d {
                    RData::CNAME(c) if !records.iter().any(wanted) => Some(c.0.clone()),
                    _ => None,
                });
                match alias {
                    // RFC 1034 §3.6.2: the CNAME, then its target's answer.
                    Some(target) if q.query_type() != RecordType::CNAME => {
                        response.add_answer(Record::from_rdata(
                            owner.clone(),
                            60,
                            RData::CNAME(CNAME(target.clone())),
                        ));
                        owner = target;
                    }
                    _ => {
                        for data in records.iter().filter(|d| wanted(d)) {
                            response.add_answer(Record::from_rdata(
                                owner.clone(),
                                60,
                                data.clone(),
                            ));
                        }
                        break;
                    }
                }
            }
        }
        response.metadata.authentic_data = authentic;
        response.to_vec().ok()
    }
}

/// A running stub; stops when dropped.
pub struct DnsStub {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    queries: Arc<Mutex<Vec<String>>>,
}

impl DnsStub {
    /// A stub answering from `zone`, on UDP and TCP of one loopback port.
    pub fn start(zone: Zone) -> DnsStub {
        DnsStub::spawn(Some(zone))
    }

    /// A stub answering from `zone` on UDP and TCP of `addr`, e.g.
    /// `127.0.0.1:53` in a test's own network namespace, for peers that
    /// cannot be told a port ([`super::in_private_netns_as_root`]).
    pub fn start_at(zone: Zone, addr: &str) -> DnsStub {
        let udp = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("DNS stub on {addr}: {e}"));
        let tcp = TcpListener::bind(addr).unwrap_or_else(|e| panic!("DNS stub on {addr}: {e}"));
        DnsStub::serve(Some(zone), udp, tcp)
    }

    /// A stub that reads every question and never answers (a dead resolver).
    pub fn silent() -> DnsStub {
        DnsStub::spawn(None)
    }

    fn spawn(zone: Option<Zone>) -> DnsStub {
        // The same port number for UDP and TCP: retry until both are free.
        let (udp, tcp) = (0..50)
            .find_map(|_| {
                let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
                let tcp = TcpListener::bind(udp.local_addr().ok()?).ok()?;
                Some((udp, tcp))
            })
            .expect("no free loopback port for the DNS stub");
        DnsStub::serve(zone, udp, tcp)
    }

    fn serve(zone: Option<Zone>, udp: UdpSocket, tcp: TcpListener) -> DnsStub {
        let addr = udp.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let zone = zone.map(Arc::new);
        udp.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        {
            let (stop, queries, zone) = (stop.clone(), queries.clone(), zone.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    record(&queries, &buf[..n]);
                    if let Some(reply) = zone.as_ref().and_then(|z| z.answer(&buf[..n])) {
                        let _ = udp.send_to(&reply, from);
                    }
                }
            });
        }
        tcp.set_nonblocking(true).unwrap();
        {
            let (stop, queries) = (stop.clone(), queries.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match tcp.accept() {
                        Ok((conn, _)) => {
                            let (stop, queries, zone) =
                                (stop.clone(), queries.clone(), zone.clone());
                            std::thread::spawn(move || serve_tcp(conn, &stop, &queries, zone));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            });
        }
        DnsStub {
            addr,
            stop,
            queries,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `[dns]` section that points a server at this stub.
    pub fn config(&self) -> String {
        format!("[dns]\nresolver = \"{}\"\n", self.addr)
    }

    /// The questions asked so far, as `TYPE name` (`MX example.net`).
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

impl Drop for DnsStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn record(queries: &Mutex<Vec<String>>, query: &[u8]) {
    if let Ok(m) = Message::from_vec(query) {
        let mut q = queries.lock().unwrap();
        for question in &m.queries {
            q.push(format!(
                "{} {}",
                question.query_type(),
                key(&question.name().to_ascii())
            ));
        }
    }
}

fn serve_tcp(
    mut conn: TcpStream,
    stop: &AtomicBool,
    queries: &Mutex<Vec<String>>,
    zone: Option<Arc<Zone>>,
) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    while !stop.load(Ordering::Relaxed) {
        let mut len = [0u8; 2];
        match conn.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => return,
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        if conn.read_exact(&mut query).is_err() {
            return;
        }
        let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
        record(queries, &query);
        let Some(reply) = zone.as_ref().and_then(|z| z.answer(&query)) else {
            continue;
        };
        let Ok(n) = u16::try_from(reply.len()) else {
            return;
        };
        if conn.write_all(&n.to_be_bytes()).is_err() || conn.write_all(&reply).is_err() {
            return;
        }
    }
}
