//! `dns-stub ADDR`: a DNS server on loopback that answers every question
//! with NXDOMAIN (RFC 1035 §4.1.1, RCODE 3), for the benchmarks: the
//! server under test gets its SPF/DKIM/DMARC lookups answered at once, as
//! for a sender domain that publishes nothing, instead of asking the
//! machine's resolver (and waiting out its timeouts, or sending packets
//! off the machine). UDP only; runs until killed.

use std::net::{SocketAddr, UdpSocket};

/// Serves on `addr` forever.
pub fn run(addr: SocketAddr) -> Result<(), String> {
    let socket = UdpSocket::bind(addr).map_err(|e| format!("cannot bind {addr}: {e}"))?;
    let bound = socket.local_addr().map_err(|e| e.to_string())?;
    println!("dns-stub listening on {bound}");
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = socket.recv_from(&mut buf).map_err(|e| e.to_string())?;
        if let Some(reply) = answer(&buf[..n]) {
            let _ = socket.send_to(&reply, from);
        }
    }
}

/// The NXDOMAIN reply to `query`, its question echoed; `None` for what is
/// not a query with one question.
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    let flags = u16::from_be_bytes([*query.get(2)?, *query.get(3)?]);
    let questions = u16::from_be_bytes([*query.get(4)?, *query.get(5)?]);
    if flags & 0x8000 != 0 || questions != 1 {
        return None;
    }
    // The question: labels up to the root, then QTYPE and QCLASS.
    let mut end = 12;
    loop {
        let len = usize::from(*query.get(end)?);
        if len == 0 {
            end += 1;
            break;
        }
        if len > 63 {
            return None; // no compression in a question
        }
        end += 1 + len;
    }
    end += 4;
    let question = query.get(12..end)?;
    // QR, the opcode and RD copied, RA, RCODE 3 (NXDOMAIN).
    let flags = 0x8000 | (flags & 0x7900) | 0x0080 | 3;
    let mut reply = Vec::with_capacity(end);
    reply.extend_from_slice(&query[..2]);
    reply.extend_from_slice(&flags.to_be_bytes());
    reply.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    reply.extend_from_slice(question);
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nxdomain_for_the_question() {
        // id 0x1234, RD, one question: example.test A IN.
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x07example\x04test\x00\x00\x01\x00\x01");
        let r = answer(&q).unwrap();
        assert_eq!(&r[..4], &[0x12, 0x34, 0x81, 0x83]);
        assert_eq!(&r[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&r[12..], &q[12..]);
        assert_eq!(answer(&r), None, "a response is not answered");
        assert_eq!(answer(&q[..15]), None);
    }
}
