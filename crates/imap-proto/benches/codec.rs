//! Codec throughput: framing and parsing the commands a mail client sends
//! most, and writing the FETCH responses a sync produces.

#![allow(clippy::unwrap_used)] // fixed inputs

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tidings_imap_proto::*;
use tidings_types::Keyword;

fn commands(c: &mut Criterion) {
    let stream: Vec<u8> = [
        "a1 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM TO CC SUBJECT MESSAGE-ID)]) (CHANGEDSINCE 12345)\r\n",
        "a2 UID STORE 42 +FLAGS.SILENT (\\Seen)\r\n",
        "a3 UID SEARCH RETURN (ALL) UNSEEN SINCE 1-Feb-2024 NOT FROM \"list@example.org\"\r\n",
        "a4 SELECT INBOX (QRESYNC (67890007 20050715194045000 1:5000))\r\n",
        "a5 NOOP\r\n",
    ]
    .concat()
    .into_bytes();
    let opts = CodecOptions::default();
    let mut g = c.benchmark_group("commands");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("frame+parse", |b| {
        b.iter(|| {
            let mut framer = Framer::new(FramerLimits::default());
            framer.push(black_box(&stream));
            let mut n = 0;
            while let Frame::Complete(cmd) = framer.next_frame() {
                n += usize::from(parse_command(&cmd, opts).is_ok());
            }
            n
        })
    });
    g.finish();
}

fn fetch_responses(c: &mut Criterion) {
    let addr = Address {
        name: Some(b"Terry Gray".to_vec()),
        adl: None,
        mailbox: Some(b"gray".to_vec()),
        host: Some(b"cac.washington.edu".to_vec()),
    };
    let envelope = Envelope {
        date: Some(b"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)".to_vec()),
        subject: Some(b"IMAP4rev2 WG mtg summary and minutes".to_vec()),
        from: vec![addr.clone()],
        sender: vec![addr.clone()],
        reply_to: vec![addr.clone()],
        to: vec![addr],
        message_id: Some(b"<B27397-0100000@cac.washington.edu>".to_vec()),
        ..Default::default()
    };
    let date = DateTime::new(Date::new(1996, 7, 17).unwrap(), 2, 44, 25, -420).unwrap();
    let responses: Vec<Response> = (1..=1000)
        .map(|i| {
            let items = vec![
                FetchItem::Uid(i),
                FetchItem::Flags {
                    flags: vec![Keyword::new("\\Seen").unwrap()],
                    recent: false,
                },
                FetchItem::Rfc822Size(4286),
                FetchItem::ModSeq(u64::from(i) * 7),
                FetchItem::Envelope(Box::new(envelope.clone())),
                FetchItem::InternalDate(date),
            ];
            Data::Fetch { seq: i, items }.into_response()
        })
        .collect();
    let opts = CodecOptions::default();
    let mut g = c.benchmark_group("responses");
    g.throughput(Throughput::Elements(responses.len() as u64));
    g.bench_function("fetch envelope x1000", |b| {
        let mut out = Vec::with_capacity(1 << 20);
        b.iter(|| {
            out.clear();
            for r in &responses {
                r.encode(&mut out, opts);
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, commands, fetch_responses);
criterion_main!(benches);
