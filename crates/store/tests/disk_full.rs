//! A full disk: writes fail with `DiskFull`, nothing is stored half-way, and
//! every email stored before stays intact with the integrity check clean.
//!
//! Needs root to mount a small tmpfs (CI runs as root); elsewhere it says it
//! was skipped.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;

use tidings_store::{NewEmail, Store, StoreError};
use tidings_types::{MailboxRole, Secret};

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_gives_a_clear_error_and_a_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tidings-test"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let _mount = Mount(dir.path().to_path_buf());
    // Something else on the disk, which the operator deletes at the end.
    let ballast = dir.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 600_000]).unwrap();
    let data = dir.path().join("data");
    let s = Store::open(&data).unwrap();
    s.add_domain("example.org").unwrap();
    let a = s
        .create_account("bob@example.org", &Secret::new("pw".into()))
        .unwrap();
    let inbox = s
        .mailbox_by_role(a, MailboxRole::Inbox)
        .unwrap()
        .unwrap()
        .id;

    let mut stored = Vec::new();
    let mut failure = None;
    for i in 0..200 {
        let raw = format!(
            "Subject: {i}\r\n\r\n{}\r\n",
            format!("{i:08} ").repeat(8000)
        )
        .into_bytes();
        match s.append(
            a,
            inbox,
            NewEmail {
                raw: &raw,
                ..Default::default()
            },
        ) {
            Ok(r) => stored.push((r.email, raw)),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("a 3 MB filesystem filled up");
    assert!(
        matches!(failure, StoreError::DiskFull),
        "expected DiskFull, got {failure:?}"
    );
    assert_eq!(failure.to_string(), "disk full: nothing was stored");
    assert!(!stored.is_empty());
    // Still full: still a clear error, still nothing half-stored.
    let big = vec![b'x'; 500_000];
    assert!(matches!(
        s.append(
            a,
            inbox,
            NewEmail {
                raw: &big,
                ..Default::default()
            }
        ),
        Err(StoreError::DiskFull)
    ));
    let report = s.check().unwrap();
    assert!(report.is_clean(), "{:#?}", report.problems);
    assert_eq!(
        report.emails as usize,
        stored.len(),
        "no email stored half-way"
    );
    s.close();
    drop(s);

    let s = Store::open(&data).unwrap();
    let report = s.check().unwrap();
    assert!(report.is_clean(), "{:#?}", report.problems);
    for (id, raw) in &stored {
        assert_eq!(&s.email_raw(a, *id).unwrap(), raw);
    }
    // The operator frees space: writing works again.
    std::fs::remove_file(&ballast).unwrap();
    s.destroy_emails(a, &[stored[0].0]).unwrap();
    s.append(
        a,
        inbox,
        NewEmail {
            raw: b"Subject: ok\r\n\r\nsmall\r\n",
            ..Default::default()
        },
    )
    .unwrap();
    s.close();
}
