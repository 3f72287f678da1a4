//! Parsing real MIME edge cases: CPython's `test/test_email/data` messages
//! (found through the machine's python3), each in LF and CRLF form. Every
//! message is stored byte for byte, its metadata describes it, and every part
//! offset lies inside the blob, children inside their parents.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use tidings_store::BodyPart;
use tidings_types::MailboxRole;

fn corpus() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import test.test_email, os; print(os.path.dirname(test.test_email.__file__))",
        ])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()).join("data");
    dir.is_dir().then_some(dir)
}

fn check_part(p: &BodyPart, lo: u64, hi: u64, path: &str) {
    assert!(
        lo <= p.header_start && p.header_start <= p.body_start,
        "{path}: header before body"
    );
    assert!(
        p.body_start <= p.body_end && p.body_end <= hi,
        "{path}: body {}..{} outside {lo}..{hi}",
        p.body_start,
        p.body_end
    );
    assert!(
        !p.media_type.is_empty() && !p.subtype.is_empty(),
        "{path}: media type"
    );
    for (i, c) in p.parts.iter().enumerate() {
        check_part(c, p.body_start, p.body_end, &format!("{path}.{}", i + 1));
    }
    if let Some(inner) = &p.message
        && matches!(p.encoding.as_str(), "7bit" | "8bit" | "binary")
    {
        check_part(&inner.1, p.body_start, p.body_end, &format!("{path}(msg)"));
    }
}

#[test]
fn python_email_test_messages() {
    let Some(dir) = corpus() else {
        panic!("python3's test.test_email data not found: scripts/install-deps installs it");
    };
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("msg_"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "expected CPython's ~48 msg_*.txt files, found {}",
        files.len()
    );
    for f in &files {
        let lf = std::fs::read(f).unwrap();
        let lf: Vec<u8> = String::from_utf8_lossy(&lf)
            .replace("\r\n", "\n")
            .into_bytes();
        let crlf = String::from_utf8_lossy(&lf)
            .replace('\n', "\r\n")
            .into_bytes();
        for raw in [lf, crlf] {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let r = s.append(a, inbox.id, new_email(&raw)).unwrap();
            assert_eq!(s.email_raw(a, r.email).unwrap(), raw, "{name}");
            let meta = s.email_meta(a, r.email).unwrap();
            check_part(&meta.body, 0, raw.len() as u64, &name);
            assert!(meta.header_end <= raw.len() as u64);
        }
    }
    // Known answers for a few of them.
    let meta_of = |name: &str| {
        let raw = std::fs::read(dir.join(name)).unwrap();
        let r = s.append(a, inbox.id, new_email(&raw)).unwrap();
        (raw, s.email_meta(a, r.email).unwrap())
    };
    let (_, m) = meta_of("msg_02.txt");
    assert_eq!(
        m.envelope.subject.as_deref(),
        Some("Ppp digest, Vol 1 #2 - 5 msgs")
    );
    assert_eq!(
        (m.body.media_type.as_str(), m.body.subtype.as_str()),
        ("multipart", "mixed")
    );
    assert_eq!(
        m.body.parts[0].description.as_deref(),
        Some("Masthead (Ppp digest, Vol 1 #2)")
    );
    assert_eq!(
        m.envelope.from[0].email.as_deref(),
        Some("ppp-request@zzz.org")
    );
    let (raw, m) = meta_of("msg_01.txt");
    let text = &raw[m.body.body_start as usize..m.body.body_end as usize];
    assert!(
        String::from_utf8_lossy(text).contains("Hi,"),
        "body of msg_01 is where the offsets say"
    );
    assert_clean(&s);
}
