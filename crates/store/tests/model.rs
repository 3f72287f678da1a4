//! The mail model of docs/design.md, through the store's public API.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;
use tidings_store::{FlagOp, NewEmail, Recipient, StoreError};
use tidings_types::{LeavePolicy, MailboxName, MailboxRole, Uid};

#[test]
fn new_account_has_the_standard_mailboxes() {
    let (_d, s) = store();
    let a = account(&s, "Bob@Example.org");
    let names: Vec<String> = s
        .mailboxes(a)
        .unwrap()
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    for want in [
        "INBOX", "Drafts", "Sent", "Junk", "Trash", "Archive", "All Mail", "Starred",
    ] {
        assert!(
            names.contains(&want.to_string()),
            "{want} missing from {names:?}"
        );
    }
    assert_eq!(
        s.account("bob@example.org").unwrap().unwrap().id,
        a,
        "addresses are case-insensitive"
    );
    let validities: std::collections::HashSet<u32> = s
        .mailboxes(a)
        .unwrap()
        .iter()
        .map(|m| m.uid_validity.0)
        .collect();
    assert_eq!(validities.len(), 8, "every mailbox has its own UIDVALIDITY");
    assert_clean(&s);
}

#[test]
fn accounts_need_a_known_domain_and_refuse_duplicates() {
    let (_d, s) = store();
    account(&s, "bob@example.org");
    let pw = tidings_types::Secret::new("x".to_string());
    assert!(matches!(
        s.create_account("bob@example.org", &pw),
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        s.create_account("eve@elsewhere.net", &pw),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.create_account("not an address", &pw),
        Err(StoreError::Refused(_))
    ));
    assert!(matches!(
        s.remove_domain("example.org"),
        Err(StoreError::Refused(_))
    ));
}

#[test]
fn passwords_are_argon2_and_checked() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    assert_eq!(
        s.authenticate("bob@example.org", &tidings_types::Secret::new("pw".into()))
            .unwrap(),
        Some(a)
    );
    assert_eq!(
        s.authenticate("bob@example.org", &tidings_types::Secret::new("PW".into()))
            .unwrap(),
        None
    );
    assert_eq!(
        s.authenticate(
            "nobody@example.org",
            &tidings_types::Secret::new("pw".into())
        )
        .unwrap(),
        None
    );
    s.set_password("bob@example.org", &tidings_types::Secret::new("new".into()))
        .unwrap();
    assert_eq!(
        s.authenticate("BOB@example.org", &tidings_types::Secret::new("new".into()))
            .unwrap(),
        Some(a)
    );
}

#[test]
fn aliases_catch_all_and_subaddressing() {
    let (_d, s) = store();
    let bob = account(&s, "bob@example.org");
    let ann = account(&s, "ann@example.org");
    s.add_alias("postmaster@example.org", "bob@example.org")
        .unwrap();
    assert_eq!(
        s.resolve_recipient("Postmaster@example.org").unwrap(),
        Some(bob)
    );
    assert_eq!(
        s.resolve_recipient("ann+lists@example.org").unwrap(),
        Some(ann)
    );
    assert_eq!(s.resolve_recipient("who@example.org").unwrap(), None);
    s.add_alias("@example.org", "ann@example.org").unwrap();
    assert_eq!(s.resolve_recipient("who@example.org").unwrap(), Some(ann));
    assert_eq!(
        s.resolve_recipient("bob@example.org").unwrap(),
        Some(bob),
        "accounts win over catch-all"
    );
    assert_eq!(s.resolve_recipient("who@other.net").unwrap(), None);
    assert!(matches!(
        s.add_alias("bob@example.org", "ann@example.org"),
        Err(StoreError::AlreadyExists(_))
    ));
    s.remove_alias("@example.org").unwrap();
    assert_eq!(s.resolve_recipient("who@example.org").unwrap(), None);
}

#[test]
fn append_puts_mail_in_the_mailbox_and_all_mail() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let raw = msg("hello", "first");
    let r = s.append(a, inbox.id, new_email(&raw)).unwrap();
    assert_eq!(r.uid, Uid(1));
    assert_eq!(uids(&s, a, &inbox), [1]);
    assert_eq!(uids(&s, a, &mailbox(&s, a, MailboxRole::All)), [1]);
    assert!(uids(&s, a, &mailbox(&s, a, MailboxRole::Flagged)).is_empty());
    assert_eq!(
        s.email_raw(a, r.email).unwrap(),
        raw,
        "stored byte for byte"
    );
    let meta = s.email_meta(a, r.email).unwrap();
    assert_eq!(meta.envelope.subject.as_deref(), Some("hello"));
    assert_eq!(s.account_by_id(a).unwrap().unwrap().used, raw.len() as u64);
    assert_clean(&s);
}

#[test]
fn mailbox_entry_finds_one_uid_of_the_owners_mailbox_only() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let b = account(&s, "ann@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    s.append(a, inbox.id, new_email(&msg("one", "1"))).unwrap();
    let r = s.append(a, inbox.id, new_email(&msg("two", "2"))).unwrap();
    let e = s.mailbox_entry(a, inbox.id, r.uid).unwrap().unwrap();
    assert_eq!((e.uid, e.email), (r.uid, r.email));
    assert!(s.mailbox_entry(a, inbox.id, Uid(3)).unwrap().is_none());
    // Another account's mailbox is not found.
    assert!(s.mailbox_entry(b, inbox.id, r.uid).is_err());
}

#[test]
fn urlauth_keys_are_made_once_kept_and_reset() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let b = account(&s, "ann@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let drafts = mailbox(&s, a, MailboxRole::Drafts);
    assert!(s.urlauth_key(a, inbox.id, false).unwrap().is_none());
    let k1 = s.urlauth_key(a, inbox.id, true).unwrap().unwrap();
    assert_eq!(k1.expose().len(), 32);
    assert_eq!(
        s.urlauth_key(a, inbox.id, false).unwrap().unwrap().expose(),
        k1.expose()
    );
    assert_eq!(
        s.urlauth_key(a, inbox.id, true).unwrap().unwrap().expose(),
        k1.expose()
    );
    let k2 = s.urlauth_key(a, drafts.id, true).unwrap().unwrap();
    assert_ne!(k1.expose(), k2.expose());
    // Not another account's mailbox.
    assert!(s.urlauth_key(b, inbox.id, true).is_err());
    assert!(s.reset_urlauth_keys(b, Some(inbox.id)).is_err());
    // One mailbox, then all.
    s.reset_urlauth_keys(a, Some(inbox.id)).unwrap();
    assert!(s.urlauth_key(a, inbox.id, false).unwrap().is_none());
    assert!(s.urlauth_key(a, drafts.id, false).unwrap().is_some());
    let k3 = s.urlauth_key(a, inbox.id, true).unwrap().unwrap();
    assert_ne!(k1.expose(), k3.expose());
    s.reset_urlauth_keys(a, None).unwrap();
    assert!(s.urlauth_key(a, inbox.id, false).unwrap().is_none());
    assert!(s.urlauth_key(a, drafts.id, false).unwrap().is_none());
    // Deleting the mailbox or the account deletes its key.
    let name = MailboxName::new("Keys").unwrap();
    s.create_mailbox(a, &name, None).unwrap();
    let keys = s.mailbox(a, &name).unwrap().unwrap();
    s.urlauth_key(a, keys.id, true).unwrap();
    s.delete_mailbox(a, &name).unwrap();
    s.urlauth_key(a, inbox.id, true).unwrap();
    s.delete_account("bob@example.org").unwrap();
    assert_clean(&s);
}

#[test]
fn flags_are_shared_and_starred_follows_flagged() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let starred = mailbox(&s, a, MailboxRole::Flagged);
    let all = mailbox(&s, a, MailboxRole::All);
    let raw = msg("hi", "x");
    let r = s.append(a, inbox.id, new_email(&raw)).unwrap();
    let out = s
        .store_flags(
            a,
            inbox.id,
            &[r.uid],
            FlagOp::Add,
            &[kw("\\Flagged"), kw("\\Seen")],
            None,
        )
        .unwrap();
    assert_eq!(out.changed.len(), 1);
    assert_eq!(uids(&s, a, &starred), [1]);
    // Seen in INBOX is seen in All Mail: keywords live on the email.
    let in_all = &s.mailbox_entries(a, all.id).unwrap()[0];
    assert!(in_all.keywords.iter().any(|k| k.as_str() == "\\Seen"));
    // \Deleted is per entry.
    s.store_flags(a, inbox.id, &[r.uid], FlagOp::Add, &[kw("\\Deleted")], None)
        .unwrap();
    assert!(s.mailbox_entries(a, inbox.id).unwrap()[0].deleted);
    assert!(!s.mailbox_entries(a, all.id).unwrap()[0].deleted);
    // Unflag: leaves Starred; a later flag gives a new UID there.
    s.store_flags(
        a,
        inbox.id,
        &[r.uid],
        FlagOp::Remove,
        &[kw("\\Flagged")],
        None,
    )
    .unwrap();
    assert!(uids(&s, a, &starred).is_empty());
    s.store_flags(a, inbox.id, &[r.uid], FlagOp::Add, &[kw("\\flagged")], None)
        .unwrap();
    assert_eq!(uids(&s, a, &starred), [2], "UIDs are never reused");
    // Copying into Starred flags; appending into Starred flags.
    let r2 = s
        .append(a, starred.id, new_email(&msg("starred", "y")))
        .unwrap();
    let e = s.mailbox_entries(a, starred.id).unwrap();
    assert!(
        e.iter()
            .any(|x| x.email == r2.email && x.keywords.iter().any(|k| k.as_str() == "\\Flagged"))
    );
    assert_clean(&s);
}

#[test]
fn unchangedsince_reports_modified() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let r = s.append(a, inbox.id, new_email(&msg("a", "b"))).unwrap();
    let first = s
        .store_flags(a, inbox.id, &[r.uid], FlagOp::Add, &[kw("\\Seen")], None)
        .unwrap();
    let stale = s
        .store_flags(
            a,
            inbox.id,
            &[r.uid],
            FlagOp::Add,
            &[kw("$Work")],
            Some(tidings_types::ModSeq(first.modseq.0 - 1)),
        )
        .unwrap();
    assert_eq!(stale.modified, [r.uid]);
    assert!(stale.changed.is_empty());
}

#[test]
fn copy_adds_a_label_without_copying_bytes_and_move_swaps() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let work = s
        .create_mailbox(a, &MailboxName::new("Work/Projects").unwrap(), None)
        .unwrap();
    assert!(
        s.mailbox(a, &MailboxName::new("Work").unwrap())
            .unwrap()
            .is_some(),
        "parents are created"
    );
    let r = s
        .append(a, inbox.id, new_email(&msg("hello", "x")))
        .unwrap();
    let c = s.copy(a, inbox.id, &[r.uid], work).unwrap();
    assert_eq!(c.pairs, [(Uid(1), Uid(1))]);
    let in_work = s.mailbox_entries(a, work).unwrap();
    assert_eq!(in_work[0].email, r.email, "the same email, not a copy");
    assert_eq!(s.check().unwrap().blobs, 1);
    let archive = mailbox(&s, a, MailboxRole::Archive);
    let m = s.move_emails(a, work, &[Uid(1)], archive.id).unwrap();
    assert_eq!(m.pairs, [(Uid(1), Uid(1))]);
    assert!(s.mailbox_entries(a, work).unwrap().is_empty());
    assert_eq!(
        uids(&s, a, &inbox),
        [1],
        "move from Work leaves INBOX alone"
    );
    assert_clean(&s);
}

#[test]
fn expunge_follows_the_leave_policy() {
    for (policy, in_trash, in_all, exists) in [
        (LeavePolicy::Archive, false, true, true),
        (LeavePolicy::Trash, true, false, true),
        (LeavePolicy::Delete, false, false, false),
    ] {
        let (_d, s) = store();
        let a = account(&s, "bob@example.org");
        s.set_policies("bob@example.org", Some(policy), None)
            .unwrap();
        let inbox = mailbox(&s, a, MailboxRole::Inbox);
        let r = s.append(a, inbox.id, new_email(&msg("bye", "x"))).unwrap();
        s.store_flags(a, inbox.id, &[r.uid], FlagOp::Add, &[kw("\\Deleted")], None)
            .unwrap();
        let (gone, _) = s.expunge(a, inbox.id, None).unwrap();
        assert_eq!(gone, [r.uid], "{policy}");
        assert!(uids(&s, a, &inbox).is_empty());
        assert_eq!(
            !uids(&s, a, &mailbox(&s, a, MailboxRole::Trash)).is_empty(),
            in_trash,
            "{policy}"
        );
        assert_eq!(
            !uids(&s, a, &mailbox(&s, a, MailboxRole::All)).is_empty(),
            in_all,
            "{policy}"
        );
        assert_eq!(s.email_raw(a, r.email).is_ok(), exists, "{policy}");
        assert_clean(&s);
    }
}

#[test]
fn expunge_from_trash_deletes_for_good_and_frees_the_blob() {
    // The blob file: SQLite's.
    let (d, s) = sqlite_store();
    s.add_domain("example.org").unwrap();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let trash = mailbox(&s, a, MailboxRole::Trash);
    // Over 64 KiB, so the blob is a file (smaller ones live in the database).
    let raw = msg("junk", &"x".repeat(70_000));
    let r = s.append(a, inbox.id, new_email(&raw)).unwrap();
    assert_eq!(walk(&d.path().join("blobs")), 1);
    s.move_emails(a, inbox.id, &[r.uid], trash.id).unwrap();
    assert!(
        uids(&s, a, &mailbox(&s, a, MailboxRole::All)).is_empty(),
        "Trash is not in All Mail"
    );
    let t = s.mailbox_entries(a, trash.id).unwrap()[0].uid;
    s.store_flags(a, trash.id, &[t], FlagOp::Add, &[kw("\\Deleted")], None)
        .unwrap();
    s.expunge(a, trash.id, Some(&[t])).unwrap();
    assert!(matches!(
        s.email_raw(a, r.email),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.account_by_id(a).unwrap().unwrap().used, 0);
    let blob_files = walk(&d.path().join("blobs"));
    assert_eq!(blob_files, 0, "the unreferenced blob file is gone");
    assert_clean(&s);
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().len() == 2)
        .map(|e| std::fs::read_dir(e.path()).unwrap().count())
        .sum()
}

#[test]
fn expunge_in_all_mail_trashes_and_in_starred_unflags() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let all = mailbox(&s, a, MailboxRole::All);
    let starred = mailbox(&s, a, MailboxRole::Flagged);
    let r = s.append(a, inbox.id, new_email(&msg("a", "x"))).unwrap();
    s.store_flags(a, inbox.id, &[r.uid], FlagOp::Add, &[kw("\\Flagged")], None)
        .unwrap();
    let su = s.mailbox_entries(a, starred.id).unwrap()[0].uid;
    s.store_flags(a, starred.id, &[su], FlagOp::Add, &[kw("\\Deleted")], None)
        .unwrap();
    assert_eq!(s.expunge(a, starred.id, None).unwrap().0, [su]);
    let e = &s.mailbox_entries(a, inbox.id).unwrap()[0];
    assert!(
        !e.keywords.iter().any(|k| k.as_str() == "\\Flagged"),
        "expunged from Starred = unflagged"
    );
    let au = s.mailbox_entries(a, all.id).unwrap()[0].uid;
    s.store_flags(a, all.id, &[au], FlagOp::Add, &[kw("\\Deleted")], None)
        .unwrap();
    assert_eq!(s.expunge(a, all.id, None).unwrap().0, [au]);
    assert!(uids(&s, a, &inbox).is_empty());
    assert_eq!(uids(&s, a, &mailbox(&s, a, MailboxRole::Trash)).len(), 1);
    assert_clean(&s);
}

#[test]
fn deliver_stores_one_blob_for_many_recipients_and_respects_quota() {
    let (_d, s) = store();
    let a = account(&s, "ann@example.org");
    let b = account(&s, "bob@example.org");
    let c = account(&s, "cy@example.org");
    s.set_quota("cy@example.org", Some(10)).unwrap();
    let raw = msg("to all", "hello everyone");
    let rcpts: Vec<Recipient> = [a, b, c]
        .iter()
        .map(|&x| Recipient {
            account: x,
            mailbox: mailbox(&s, x, MailboxRole::Inbox).id,
            keywords: vec![],
        })
        .collect();
    let out = s.deliver(&raw, None, &rcpts).unwrap();
    assert!(out[0].is_ok() && out[1].is_ok());
    assert!(matches!(out[2], Err(StoreError::OverQuota { .. })));
    assert_eq!(s.check().unwrap().blobs, 1);
    assert_eq!(s.check().unwrap().emails, 2);
    assert_eq!(s.account_by_id(c).unwrap().unwrap().used, 0);
    // A refused recipient leaves nothing behind, not even in the index.
    assert_eq!(s.search_text(a, "everyone").unwrap().len(), 1);
    assert!(s.search_text(c, "everyone").unwrap().is_empty());
    assert_clean(&s);
}

#[test]
fn one_user_never_sees_another_users_mail() {
    let (_d, s) = store();
    let a = account(&s, "ann@example.org");
    let b = account(&s, "bob@example.org");
    let ai = mailbox(&s, a, MailboxRole::Inbox);
    let bi = mailbox(&s, b, MailboxRole::Inbox);
    let r = s.append(a, ai.id, new_email(&msg("secret", "x"))).unwrap();
    assert!(matches!(
        s.mailbox_entries(b, ai.id),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.email_raw(b, r.email),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.email_meta(b, r.email),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.append(b, ai.id, new_email(b"x")),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.copy(b, ai.id, &[r.uid], bi.id),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.copy(a, ai.id, &[r.uid], bi.id),
        Err(StoreError::NotFound(_))
    ));
    assert!(
        s.set_email_keywords(b, &[r.email], &[kw("\\Seen")], &[])
            .is_err()
    );
    assert!(s.destroy_emails(b, &[r.email]).is_err());
    assert!(s.search_text(b, "secret").unwrap().is_empty());
    assert_eq!(s.search_text(a, "secret").unwrap(), [r.email]);
}

#[test]
fn changes_since_and_mailbox_delta() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let r1 = s.append(a, inbox.id, new_email(&msg("one", "x"))).unwrap();
    let r2 = s.append(a, inbox.id, new_email(&msg("two", "x"))).unwrap();
    let since = s.account_by_id(a).unwrap().unwrap().modseq;
    let r3 = s
        .append(a, inbox.id, new_email(&msg("three", "x")))
        .unwrap();
    s.store_flags(a, inbox.id, &[r1.uid], FlagOp::Add, &[kw("\\Seen")], None)
        .unwrap();
    s.store_flags(
        a,
        inbox.id,
        &[r2.uid],
        FlagOp::Add,
        &[kw("\\Deleted")],
        None,
    )
    .unwrap();
    s.set_policies("bob@example.org", Some(LeavePolicy::Delete), None)
        .unwrap();
    s.expunge(a, inbox.id, None).unwrap();
    let c = s.changes_since(a, since).unwrap();
    assert_eq!(c.created, [r3.email]);
    assert_eq!(c.updated, [r1.email]);
    assert_eq!(c.destroyed, [r2.email]);
    let d = s.mailbox_changes(a, inbox.id, since).unwrap();
    let changed: Vec<u32> = d.changed.iter().map(|e| e.uid.0).collect();
    assert_eq!(changed, [1, 3]);
    assert_eq!(d.vanished, [Uid(2)]);
    assert_eq!(
        d.highest_modseq,
        s.mailbox(a, &MailboxName::new("INBOX").unwrap())
            .unwrap()
            .unwrap()
            .highest_modseq
    );
    let none = s.changes_since(a, c.new_modseq).unwrap();
    assert!(none.created.is_empty() && none.updated.is_empty() && none.destroyed.is_empty());
}

/// The raw change log comes in whole commits, with the thread of a
/// destroyed email, and says when rows were left out.
#[test]
fn change_log_keeps_commits_whole_and_names_the_thread_of_a_destroyed_email() {
    use tidings_store::ChangeKind;
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let since = s.account_by_id(a).unwrap().unwrap().modseq;
    let r1 = s.append(a, inbox.id, new_email(&msg("one", "x"))).unwrap();
    let r2 = s.append(a, inbox.id, new_email(&msg("two", "x"))).unwrap();
    // One commit, two emails.
    s.store_flags(
        a,
        inbox.id,
        &[r1.uid, r2.uid],
        FlagOp::Add,
        &[kw("\\Seen")],
        None,
    )
    .unwrap();
    s.destroy_emails(a, &[r2.email]).unwrap();
    let all = s.change_log(a, since, 1000).unwrap();
    assert!(!all.truncated);
    assert_eq!(all.current, s.account_by_id(a).unwrap().unwrap().modseq);
    let kinds: Vec<ChangeKind> = all.entries.iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&ChangeKind::ThreadChanged), "{kinds:?}");
    assert!(all.entries.windows(2).all(|w| w[0].modseq <= w[1].modseq));
    // A limit inside the flag commit still returns all of it.
    let flags_at = all
        .entries
        .iter()
        .find(|e| e.kind == ChangeKind::EmailUpdated)
        .unwrap()
        .modseq;
    let before_flags = all.entries.iter().filter(|e| e.modseq < flags_at).count();
    let cut = s.change_log(a, since, before_flags + 1).unwrap();
    assert!(cut.truncated);
    let last = cut.entries.last().unwrap().modseq;
    assert_eq!(last, flags_at);
    assert_eq!(
        cut.entries.iter().filter(|e| e.modseq == flags_at).count(),
        all.entries.iter().filter(|e| e.modseq == flags_at).count()
    );
    // The changes_since summary ignores the thread rows.
    let c = s.changes_since(a, since).unwrap();
    assert_eq!(c.created, [r1.email]);
    assert!(c.mailboxes_destroyed.is_empty(), "{c:?}");
}

#[test]
fn threads_by_references_and_subject() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let first = s
        .append(
            a,
            inbox.id,
            new_email(b"Message-ID: <1@x>\r\nSubject: Lunch?\r\n\r\nhi\r\n"),
        )
        .unwrap();
    let reply = s
        .append(
            a,
            inbox.id,
            new_email(
                b"Message-ID: <2@x>\r\nIn-Reply-To: <1@x>\r\nSubject: Re: Lunch?\r\n\r\nyes\r\n",
            ),
        )
        .unwrap();
    let loose = s
        .append(
            a,
            inbox.id,
            new_email(b"Message-ID: <3@y>\r\nSubject: RE: lunch?\r\n\r\nme too\r\n"),
        )
        .unwrap();
    let other = s
        .append(
            a,
            inbox.id,
            new_email(b"Message-ID: <4@z>\r\nSubject: Lunch?\r\n\r\nnew\r\n"),
        )
        .unwrap();
    assert_eq!(reply.thread, first.thread);
    assert_eq!(loose.thread, first.thread, "subject fallback for replies");
    assert_ne!(
        other.thread, first.thread,
        "a non-reply with the same subject starts a thread"
    );
}

#[test]
fn not_mime_is_stored_exactly() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    for raw in [
        &b"\x00\xff\xfe garbage \r\n\r\n\x80"[..],
        b"",
        b"no header at all",
        b"Subject: =?bad?=\n\n\xff",
    ] {
        let r = s.append(a, inbox.id, new_email(raw)).unwrap();
        assert_eq!(s.email_raw(a, r.email).unwrap(), raw);
        s.email_meta(a, r.email).unwrap();
    }
    assert_clean(&s);
}

#[test]
fn mailbox_names_are_validated() {
    for bad in ["a//b", "/a", "a/", "a\u{1}b", ""] {
        assert!(MailboxName::new(bad).is_err(), "{bad:?}");
    }
    assert!(MailboxName::new(&"x".repeat(1001)).is_err());
    assert!(MailboxName::from_bytes(b"\xc3\x28").is_err());
}

#[test]
fn rename_and_delete_mailboxes() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let n = |x: &str| MailboxName::new(x).unwrap();
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    s.create_mailbox(a, &n("Work/2026"), None).unwrap();
    let w = named(&s, a, "Work/2026");
    s.append(a, w.id, new_email(&msg("w", "x"))).unwrap();
    s.rename_mailbox(a, &n("Work"), &n("Jobs")).unwrap();
    let moved = named(&s, a, "Jobs/2026");
    assert_eq!(moved.id, w.id);
    assert_eq!(moved.uid_validity, w.uid_validity);
    assert!(matches!(
        s.rename_mailbox(a, &n("Jobs"), &n("Jobs/x")),
        Err(StoreError::Refused(_))
    ));
    assert!(matches!(
        s.delete_mailbox(a, &n("Jobs")),
        Err(StoreError::Refused(_))
    ));
    assert!(matches!(
        s.delete_mailbox(a, &n("INBOX")),
        Err(StoreError::Refused(_))
    ));
    s.delete_mailbox(a, &n("Jobs/2026")).unwrap();
    assert_eq!(
        uids(&s, a, &mailbox(&s, a, MailboxRole::All)).len(),
        1,
        "archived, not lost"
    );
    // Recreated: a new UIDVALIDITY.
    s.create_mailbox(a, &n("Jobs/2026"), None).unwrap();
    assert_ne!(named(&s, a, "Jobs/2026").uid_validity, w.uid_validity);
    // Renaming INBOX moves its mail and leaves INBOX empty.
    s.append(a, inbox.id, new_email(&msg("i", "x"))).unwrap();
    s.rename_mailbox(a, &n("inbox"), &n("Old")).unwrap();
    assert!(uids(&s, a, &inbox).is_empty());
    assert_eq!(uids(&s, a, &named(&s, a, "Old")), [1]);
    assert_clean(&s);
}

#[test]
fn events_follow_commits() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let mut rx = s.subscribe();
    let r = s.append(a, inbox.id, new_email(&msg("ping", "x"))).unwrap();
    let ev = rx.try_recv().unwrap();
    assert_eq!(ev.account, a);
    assert_eq!(ev.modseq, r.modseq);
    assert!(ev.mailboxes.contains(&inbox.id));
}

#[test]
fn delete_account_removes_all_its_mail() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let b = account(&s, "ann@example.org");
    let raw = msg("shared", "x");
    let inbox = |x| mailbox(&s, x, MailboxRole::Inbox).id;
    s.deliver(
        &raw,
        None,
        &[
            Recipient {
                account: a,
                mailbox: inbox(a),
                keywords: vec![],
            },
            Recipient {
                account: b,
                mailbox: inbox(b),
                keywords: vec![],
            },
        ],
    )
    .unwrap();
    s.delete_account("bob@example.org").unwrap();
    assert!(s.account("bob@example.org").unwrap().is_none());
    let r = s.check().unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(
        (r.emails, r.blobs),
        (1, 1),
        "ann keeps her copy of the shared blob"
    );
}

#[test]
fn empty_keywords_and_append_with_flags() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let drafts = mailbox(&s, a, MailboxRole::Drafts);
    let raw = msg("draft", "x");
    let r = s
        .append(
            a,
            drafts.id,
            NewEmail {
                raw: &raw,
                keywords: vec![kw("\\Draft"), kw("\\Deleted")],
                received: Some(1_000_000),
            },
        )
        .unwrap();
    let e = &s.mailbox_entries(a, drafts.id).unwrap()[0];
    assert_eq!(e.received, 1_000_000);
    assert_eq!(
        e.keywords.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["\\Draft"]
    );
    assert!(
        e.deleted,
        "\\Deleted at append marks the entry, not the email"
    );
    assert_eq!(e.email, r.email);
}

#[test]
fn pop_deletions_follow_the_pop_policy_and_never_come_back() {
    use tidings_types::PopPolicy;
    // (policy, still in INBOX, seen, in Trash, still exists)
    for (policy, in_inbox, seen, in_trash, exists) in [
        (PopPolicy::Keep, true, false, false, true),
        (PopPolicy::MarkRead, true, true, false, true),
        (PopPolicy::Archive, false, false, false, true),
        (PopPolicy::Trash, false, false, true, true),
        (PopPolicy::Delete, false, false, false, false),
    ] {
        let (_d, s) = store();
        let a = account(&s, "bob@example.org");
        s.set_policies("bob@example.org", None, Some(policy))
            .unwrap();
        let inbox = mailbox(&s, a, MailboxRole::Inbox);
        let r1 = s.append(a, inbox.id, new_email(&msg("one", "x"))).unwrap();
        let r2 = s.append(a, inbox.id, new_email(&msg("two", "y"))).unwrap();
        let drop = s.pop_maildrop(a, false).unwrap();
        assert_eq!(
            drop.iter().map(|m| m.email).collect::<Vec<_>>(),
            [r1.email, r2.email]
        );
        s.pop_commit(a, &[r1.email]).unwrap();
        let after: Vec<_> = s
            .pop_maildrop(a, false)
            .unwrap()
            .iter()
            .map(|m| m.email)
            .collect();
        assert_eq!(
            after,
            [r2.email],
            "{policy}: a POP-deleted message is never offered again"
        );
        let entries = s.mailbox_entries(a, inbox.id).unwrap();
        let e = entries.iter().find(|e| e.email == r1.email);
        assert_eq!(e.is_some(), in_inbox, "{policy}");
        if let Some(e) = e {
            assert_eq!(
                e.keywords.iter().any(|k| k.as_str() == "\\Seen"),
                seen,
                "{policy}"
            );
        }
        let trash = s
            .mailbox_entries(a, mailbox(&s, a, MailboxRole::Trash).id)
            .unwrap();
        assert_eq!(
            trash.iter().any(|e| e.email == r1.email),
            in_trash,
            "{policy}"
        );
        assert_eq!(s.email_raw(a, r1.email).is_ok(), exists, "{policy}");
        // Recent mode sees the last 30 days whatever POP3 did (unless gone).
        let recent: Vec<_> = s
            .pop_maildrop(a, true)
            .unwrap()
            .iter()
            .map(|m| m.email)
            .collect();
        assert_eq!(recent.contains(&r1.email), exists && !in_trash, "{policy}");
        assert_clean(&s);
    }
}

#[test]
fn pop_lock_is_one_session_per_account_and_commit_skips_vanished_mail() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let b = account(&s, "ann@example.org");
    let lock = s.pop_lock(a).unwrap();
    assert!(s.pop_lock(a).is_none(), "second session refused");
    assert!(s.pop_lock(b).is_some(), "other accounts unaffected");
    drop(lock);
    assert!(s.pop_lock(a).is_some(), "released on drop");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let r = s.append(a, inbox.id, new_email(&msg("gone", "x"))).unwrap();
    s.destroy_emails(a, &[r.email]).unwrap();
    s.pop_commit(a, &[r.email]).unwrap();
    // Another account's email id is not ours to delete.
    let bi = mailbox(&s, b, MailboxRole::Inbox);
    let rb = s.append(b, bi.id, new_email(&msg("ann's", "x"))).unwrap();
    s.pop_commit(a, &[rb.email]).unwrap();
    assert_eq!(s.pop_maildrop(b, false).unwrap().len(), 1);
    assert_clean(&s);
}

#[test]
fn failing_jobs_in_a_group_are_undone_alone() {
    // Concurrent writers make the writer group jobs; half of these fail
    // (appends over quota, mailboxes that exist already). Groups with a
    // failure are rolled back and run again job by job: every success must
    // be there exactly once, every failure leave nothing.
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let full = account(&s, "full@example.org");
    s.set_quota("full@example.org", Some(1)).unwrap();
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let full_inbox = mailbox(&s, full, MailboxRole::Inbox);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut ok = Vec::new();
                for i in 0..40 {
                    let raw = msg(&format!("t{t} m{i}"), "x");
                    if i % 2 == 0 {
                        ok.push(s.append(a, inbox.id, new_email(&raw)).unwrap().email);
                    } else if i % 4 == 1 {
                        assert!(matches!(
                            s.append(full, full_inbox.id, new_email(&raw)),
                            Err(StoreError::OverQuota { .. })
                        ));
                    } else {
                        let name = MailboxName::new("Work").unwrap();
                        let r = s.create_mailbox(a, &name, None);
                        assert!(r.is_ok() || matches!(r, Err(StoreError::AlreadyExists(_))));
                    }
                }
                ok
            })
        })
        .collect();
    let mut stored: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    stored.sort();
    let mut in_inbox: Vec<_> = s
        .mailbox_entries(a, inbox.id)
        .unwrap()
        .iter()
        .map(|e| e.email)
        .collect();
    in_inbox.sort();
    assert_eq!(in_inbox, stored, "every acknowledged append, once");
    assert_eq!(stored.len(), 160);
    assert!(s.mailbox_entries(full, full_inbox.id).unwrap().is_empty());
    assert_eq!(s.account_by_id(full).unwrap().unwrap().used, 0);
    assert_eq!(
        s.mailboxes(a)
            .unwrap()
            .iter()
            .filter(|m| m.name.as_str() == "Work")
            .count(),
        1
    );
    assert_clean(&s);
}

#[test]
fn append_many_is_all_or_nothing() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    let (m1, m2) = (msg("one", "x"), msg("two", "y"));
    let done = s
        .append_many(a, inbox.id, vec![new_email(&m1), new_email(&m2)])
        .unwrap();
    assert_eq!(done.iter().map(|d| d.uid.0).collect::<Vec<_>>(), [1, 2]);
    // The second message does not fit the quota: neither is stored.
    let used = s.account_by_id(a).unwrap().unwrap().used;
    s.set_quota("bob@example.org", Some(used + 150)).unwrap();
    let small = msg("three", "z");
    let big = msg("four", &"w".repeat(500));
    assert!(matches!(
        s.append_many(a, inbox.id, vec![new_email(&small), new_email(&big)]),
        Err(StoreError::OverQuota { .. })
    ));
    assert_eq!(
        uids(&s, a, &inbox),
        [1, 2],
        "nothing of the failed batch is stored"
    );
    assert_eq!(s.account_by_id(a).unwrap().unwrap().used, used);
    assert_clean(&s);
}

fn subscribed_names(s: &tidings_store::Store, a: tidings_types::AccountId) -> Vec<String> {
    s.subscriptions(a)
        .unwrap()
        .iter()
        .map(|n| n.to_string())
        .collect()
}

#[test]
fn a_subscription_outlives_its_mailbox_and_follows_a_rename() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let name = |n: &str| MailboxName::new(n).unwrap();
    s.create_mailbox(a, &name("Work/Old"), None).unwrap();
    assert!(named(&s, a, "Work/Old").subscribed, "CREATE subscribes");
    // RENAME moves the subscription of the mailbox and its children.
    s.rename_mailbox(a, &name("Work"), &name("Jobs")).unwrap();
    let subs = subscribed_names(&s, a);
    assert!(subs.contains(&"Jobs/Old".to_string()), "{subs:?}");
    assert!(!subs.contains(&"Work/Old".to_string()), "{subs:?}");
    // DELETE keeps it (RFC 3501 §6.3.9).
    s.delete_mailbox(a, &name("Jobs/Old")).unwrap();
    assert!(subscribed_names(&s, a).contains(&"Jobs/Old".to_string()));
    // It can be unsubscribed without its mailbox; again is no error.
    s.set_subscribed(a, &name("Jobs/Old"), false).unwrap();
    assert!(!subscribed_names(&s, a).contains(&"Jobs/Old".to_string()));
    s.set_subscribed(a, &name("Jobs/Old"), false).unwrap();
    // Subscribing needs a mailbox.
    assert!(matches!(
        s.set_subscribed(a, &name("Nowhere"), true),
        Err(StoreError::NotFound(_))
    ));
    s.set_subscribed(a, &name("Jobs"), false).unwrap();
    assert!(!named(&s, a, "Jobs").subscribed);
    assert_clean(&s);
}

#[test]
fn a_version_1_database_keeps_its_subscriptions_and_gains_the_later_tables() {
    let (dir, s) = sqlite_store();
    s.add_domain("example.org").unwrap();
    let a = account(&s, "bob@example.org");
    let name = |n: &str| MailboxName::new(n).unwrap();
    s.create_mailbox(a, &name("Kept"), None).unwrap();
    s.create_mailbox(a, &name("Dropped"), None).unwrap();
    s.close();
    drop(s);
    // Put the database back in the shape of schema version 1: subscriptions
    // as a column of mailboxes.
    let db = rusqlite::Connection::open(dir.path().join("tidings.db")).unwrap();
    db.execute_batch(
        "DROP TABLE subscriptions;
         DROP TABLE metadata;
         ALTER TABLE mailboxes DROP COLUMN first_recent_uid;
         ALTER TABLE mailboxes ADD COLUMN subscribed INTEGER NOT NULL DEFAULT 1;
         UPDATE mailboxes SET subscribed = 0 WHERE name = 'Dropped';
         DROP TABLE sent;
         ALTER TABLE accounts DROP COLUMN send_per_hour;
         ALTER TABLE accounts DROP COLUMN send_per_day;
         DROP TABLE acl;
         DROP TABLE alias_targets;
         DROP TABLE tokens;
         DROP TABLE uploads;
         DROP TABLE mta_sts;
         ALTER TABLE queue DROP COLUMN requiretls;
         DROP TABLE tls_results;
         DROP TABLE dmarc_results;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(db);
    let s = tidings_store::Store::open(dir.path()).unwrap();
    assert!(named(&s, a, "Kept").subscribed);
    assert!(!named(&s, a, "Dropped").subscribed);
    assert!(subscribed_names(&s, a).contains(&"INBOX".to_string()));
    assert_eq!(s.metadata(a, None).unwrap(), vec![]);
    assert_clean(&s);
}

/// RFC 3501 §2.3.2: a message is `\Recent` in exactly one session, the
/// first to claim it; looking (EXAMINE, STATUS) claims nothing.
#[test]
fn recent_uids_are_claimed_once() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    for i in 0..3 {
        s.append(a, inbox.id, new_email(&msg(&format!("m{i}"), "x")))
            .unwrap();
    }
    let look = s.recent_uids(a, inbox.id, false).unwrap();
    assert_eq!((look.first, look.next, look.count), (Uid(1), Uid(4), 3));
    assert_eq!(s.recent_uids(a, inbox.id, false).unwrap(), look);
    // The first claim takes all three; the next finds nothing.
    assert_eq!(s.recent_uids(a, inbox.id, true).unwrap(), look);
    let after = s.recent_uids(a, inbox.id, true).unwrap();
    assert_eq!((after.first, after.next, after.count), (Uid(4), Uid(4), 0));
    // New mail is claimed by the next claim only.
    s.append(a, inbox.id, new_email(&msg("m3", "x"))).unwrap();
    assert_eq!(s.recent_uids(a, inbox.id, false).unwrap().count, 1);
    let got = s.recent_uids(a, inbox.id, true).unwrap();
    assert_eq!((got.first, got.next, got.count), (Uid(4), Uid(5), 1));
    assert_eq!(s.recent_uids(a, inbox.id, true).unwrap().count, 0);
    // Other mailboxes keep their own.
    let all = mailbox(&s, a, MailboxRole::All);
    assert_eq!(s.recent_uids(a, all.id, false).unwrap().count, 4);
    // Concurrent claims: each UID goes to exactly one of them.
    for i in 0..20 {
        s.append(a, inbox.id, new_email(&msg(&format!("n{i}"), "x")))
            .unwrap();
    }
    let claimed: Vec<u32> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| s.recent_uids(a, inbox.id, true).unwrap().count))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(claimed.iter().sum::<u32>(), 20, "{claimed:?}");
    assert_clean(&s);
}

/// Schema version 4 added `\Recent`; mail stored before the upgrade is not
/// recent to anyone, mail after it is.
#[test]
fn a_version_1_database_upgrades_with_nothing_recent() {
    let dir = tempfile::tempdir().unwrap();
    let (a, inbox) = {
        let s = tidings_store::Store::open(dir.path()).unwrap();
        s.add_domain("example.org").unwrap();
        let a = account(&s, "bob@example.org");
        let inbox = mailbox(&s, a, MailboxRole::Inbox);
        s.append(a, inbox.id, new_email(&msg("old", "x"))).unwrap();
        s.close();
        (a, inbox)
    };
    {
        // Back to version 1 as it was on disk.
        let c = rusqlite::Connection::open(dir.path().join("tidings.db")).unwrap();
        c.execute_batch(
            "ALTER TABLE mailboxes DROP COLUMN first_recent_uid;
             DROP TABLE subscriptions;
             DROP TABLE metadata;
             ALTER TABLE mailboxes ADD COLUMN subscribed INTEGER NOT NULL DEFAULT 1;
             DROP TABLE sent;
             ALTER TABLE accounts DROP COLUMN send_per_hour;
             ALTER TABLE accounts DROP COLUMN send_per_day;
             DROP TABLE acl;
             DROP TABLE alias_targets;
             DROP TABLE tokens;
             DROP TABLE uploads;
             DROP TABLE mta_sts;
             ALTER TABLE queue DROP COLUMN requiretls;
             DROP TABLE tls_results;
             DROP TABLE dmarc_results;
             PRAGMA user_version=1;",
        )
        .unwrap();
    }
    let s = tidings_store::Store::open(dir.path()).unwrap();
    assert_eq!(s.recent_uids(a, inbox.id, false).unwrap().count, 0);
    s.append(a, inbox.id, new_email(&msg("new", "x"))).unwrap();
    let r = s.recent_uids(a, inbox.id, true).unwrap();
    assert_eq!((r.first, r.next, r.count), (Uid(2), Uid(3), 1));
    s.close();
}

#[test]
fn sending_limits_count_per_account_and_prefer_the_accounts_own() {
    let (_d, s) = store();
    let (a, b) = (
        account(&s, "ann@example.org"),
        account(&s, "bob@example.org"),
    );
    let defaults = tidings_store::SendLimits {
        per_hour: Some(2),
        per_day: Some(3),
    };
    let t = 1_000_000;
    use tidings_store::SendCheck::*;
    assert_eq!(s.reserve_send(a, t, defaults).unwrap(), Allowed);
    assert_eq!(s.reserve_send(a, t + 1, defaults).unwrap(), Allowed);
    assert_eq!(
        s.reserve_send(a, t + 2, defaults).unwrap(),
        OverHour { limit: 2 }
    );
    // Another account has its own count.
    assert_eq!(s.reserve_send(b, t + 2, defaults).unwrap(), Allowed);
    // An hour later the hour is free again, the day is not.
    assert_eq!(s.reserve_send(a, t + 3601, defaults).unwrap(), Allowed);
    assert_eq!(
        s.reserve_send(a, t + 3602, defaults).unwrap(),
        OverDay { limit: 3 }
    );
    // The account's own limits win over the server's.
    s.set_send_limits(
        "ann@example.org",
        tidings_store::SendLimits {
            per_hour: Some(10),
            per_day: Some(10),
        },
    )
    .unwrap();
    assert_eq!(s.reserve_send(a, t + 3603, defaults).unwrap(), Allowed);
    let (own, hour, day) = s.send_limits("ann@example.org", t + 3603).unwrap();
    assert_eq!((own.per_hour, hour, day), (Some(10), 2, 4));
    assert_clean(&s);
}

/// IMAP REPLACE (RFC 8508): the new message is stored and the old entry
/// expunged in one transaction; a UID that is gone changes nothing.
#[test]
fn replace_stores_the_new_message_and_expunges_the_old_one() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let drafts = mailbox(&s, a, MailboxRole::Drafts);
    let old = s
        .append(a, drafts.id, new_email(&msg("draft one", "v1")))
        .unwrap();
    let spooled = |raw: &[u8]| {
        let mut spool = tidings_store::Spool::in_memory();
        spool.write(raw).unwrap();
        spool.finish().unwrap()
    };
    let body = spooled(&msg("draft two", "v2"));
    let replaced = s
        .replace_spooled(
            a,
            drafts.id,
            tidings_store::SpooledEmail {
                body: &body,
                keywords: vec![kw("\\Seen")],
                received: None,
            },
            drafts.id,
            old.uid,
        )
        .unwrap();
    assert!(replaced.expunged);
    assert!(replaced.appended.uid > old.uid);
    assert_eq!(uids(&s, a, &drafts), vec![replaced.appended.uid.0]);
    // Out of Drafts, the old draft follows the leave policy (archive: it
    // stays in All Mail), as with EXPUNGE.
    let all = mailbox(&s, a, MailboxRole::All);
    let in_all: Vec<_> = s
        .mailbox_entries(a, all.id)
        .unwrap()
        .iter()
        .map(|e| e.email)
        .collect();
    assert!(in_all.contains(&old.email) && in_all.contains(&replaced.appended.email));
    let again = spooled(&msg("draft three", "v3"));
    let err = s
        .replace_spooled(
            a,
            drafts.id,
            tidings_store::SpooledEmail {
                body: &again,
                keywords: vec![],
                received: None,
            },
            drafts.id,
            old.uid,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(uids(&s, a, &drafts), vec![replaced.appended.uid.0]);
    assert_clean(&s);
}

/// The first bytes of a stored message, without the rest; all of it when
/// asked for more than there is.
#[test]
fn email_raw_prefix_is_the_first_bytes() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let inbox = mailbox(&s, a, MailboxRole::Inbox);
    for raw in [msg("small", "x"), msg("large", &"y".repeat(200_000))] {
        let e = s.append(a, inbox.id, new_email(&raw)).unwrap().email;
        assert_eq!(s.email_raw_prefix(a, e, 20).unwrap(), raw[..20]);
        assert_eq!(s.email_raw_prefix(a, e, 10_000_000).unwrap(), raw);
    }
}

/// A message of several MiB (a file blob in SQLite, chunks in PostgreSQL)
/// delivered to two accounts is stored once, read back exactly (whole and
/// as a prefix), and freed when the last copy is destroyed.
#[test]
fn a_large_message_is_stored_once_and_read_back_exactly() {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    let b = account(&s, "ann@example.org");
    let body: String = (0..3_500_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let raw = msg("large", &body);
    let to = |x| Recipient {
        account: x,
        mailbox: mailbox(&s, x, MailboxRole::Inbox).id,
        keywords: vec![],
    };
    let out = s.deliver(&raw, None, &[to(a), to(b)]).unwrap();
    let (ea, eb) = (
        out[0].as_ref().unwrap().email,
        out[1].as_ref().unwrap().email,
    );
    assert_eq!(s.email_raw(a, ea).unwrap(), raw);
    let cut = 1024 * 1024 + 17;
    assert_eq!(s.email_raw_prefix(b, eb, cut as u64).unwrap(), raw[..cut]);
    assert_eq!(s.check().unwrap().blobs, 1, "stored once");
    s.destroy_emails(a, &[ea]).unwrap();
    assert_eq!(s.email_raw(b, eb).unwrap(), raw);
    s.destroy_emails(b, &[eb]).unwrap();
    assert_eq!(s.check().unwrap().blobs, 0, "freed with its last copy");
    assert_clean(&s);
}
