//! Mailbox sharing (RFC 4314 rights) through the store's public API: every
//! call on another account's mailbox is refused unless a right allows it.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;
use tidings_store::{FlagOp, Grantee, Rights, StoreError};
use tidings_types::{MailboxName, MailboxRole, Uid};

fn rights(s: &str) -> Option<Rights> {
    Some(Rights::parse(s).unwrap())
}

#[test]
fn a_mailbox_of_another_account_needs_each_right() {
    let (_d, s) = store();
    let alice = account(&s, "alice@example.org");
    let bob = account(&s, "bob@example.org");
    let carol = account(&s, "carol@example.org");
    let projects = s
        .create_mailbox(alice, &MailboxName::new("Projects").unwrap(), None)
        .unwrap();
    let raw = msg("plan", "the plan");
    s.append(alice, projects, new_email(&raw)).unwrap();
    let bobs = Grantee::Account("bob@example.org".into());

    // Nothing granted: as if it did not exist.
    assert!(matches!(
        s.mailbox_entries(bob, projects),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.my_rights(bob, projects),
        Err(StoreError::NotFound(_))
    ));
    assert!(s.shared_mailboxes(bob).unwrap().is_empty());
    // Only the owner (or `a`) may grant.
    assert!(matches!(
        s.set_rights(bob, projects, &bobs, rights("lr")),
        Err(StoreError::NotFound(_))
    ));

    s.set_rights(alice, projects, &bobs, rights("lr")).unwrap();
    assert_eq!(s.my_rights(bob, projects).unwrap().letters(), "lr");
    assert_eq!(s.my_rights(alice, projects).unwrap(), Rights::all());
    let shared = s.shared_mailboxes(bob).unwrap();
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].owner, "alice@example.org");
    assert_eq!(shared[0].mailbox.id, projects);
    let entries = s.mailbox_entries(bob, projects).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(s.email_raw(bob, entries[0].email).unwrap(), raw);
    assert_eq!(s.mailbox_counts(bob, projects).unwrap().messages, 1);
    // Read-only: no flags, no append, no expunge, no administration.
    let seen = kw("\\Seen");
    assert!(matches!(
        s.store_flags(
            bob,
            projects,
            &[Uid(1)],
            FlagOp::Add,
            std::slice::from_ref(&seen),
            None
        ),
        Err(StoreError::NoPermission(_))
    ));
    assert!(matches!(
        s.append(bob, projects, new_email(&raw)),
        Err(StoreError::NoPermission(_))
    ));
    assert!(matches!(
        s.expunge(bob, projects, None),
        Err(StoreError::NoPermission(_))
    ));
    assert!(matches!(
        s.acl(bob, projects),
        Err(StoreError::NoPermission(_))
    ));
    // Carol sees nothing of it, not even through the email id.
    assert!(matches!(
        s.email_raw(carol, entries[0].email),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.mailbox_counts(carol, projects),
        Err(StoreError::NotFound(_))
    ));

    // `s` alone: \Seen changes, \Flagged is ignored, on the owner's email.
    s.set_rights(alice, projects, &bobs, rights("lrsi"))
        .unwrap();
    let changed = s
        .store_flags(
            bob,
            projects,
            &[Uid(1)],
            FlagOp::Add,
            &[seen.clone(), kw("\\Flagged")],
            None,
        )
        .unwrap();
    assert_eq!(changed.changed[0].keywords, vec![seen.clone()]);
    let own = s.mailbox_entries(alice, projects).unwrap();
    assert_eq!(own[0].keywords, vec![seen.clone()]);
    // APPEND as the owner: alice's quota and MODSEQ.
    let before = s.account_by_id(alice).unwrap().unwrap();
    let appended = s.append(bob, projects, new_email(&raw)).unwrap();
    assert_eq!(appended.uid, Uid(2));
    let after = s.account_by_id(alice).unwrap().unwrap();
    assert!(after.modseq > before.modseq);
    assert!(after.used > before.used);

    // COPY out to bob's own INBOX: a new email of bob's.
    let inbox = mailbox(&s, bob, MailboxRole::Inbox);
    let copied = s.copy(bob, projects, &[Uid(1)], inbox.id).unwrap();
    assert_eq!(copied.pairs, vec![(Uid(1), Uid(1))]);
    let mine = s.mailbox_entries(bob, inbox.id).unwrap();
    assert_eq!(s.email_raw(bob, mine[0].email).unwrap(), raw);
    assert_eq!(mine[0].keywords, vec![seen]);
    // COPY in from bob's own INBOX (`i`): a new email of alice's.
    let into = s.copy(bob, inbox.id, &[Uid(1)], projects).unwrap();
    assert_eq!(into.pairs, vec![(Uid(1), Uid(3))]);
    let theirs = s.mailbox_entries(alice, projects).unwrap();
    assert_eq!(s.email_raw(alice, theirs[2].email).unwrap(), raw);
    assert_ne!(theirs[2].email, mine[0].email);
    // MOVE out needs `t` and `e`.
    assert!(matches!(
        s.move_emails(bob, projects, &[Uid(1)], inbox.id),
        Err(StoreError::NoPermission(_))
    ));

    // The ACL, owner first; revoking takes it all away.
    let acl = s.acl(alice, projects).unwrap();
    assert_eq!(acl.len(), 2);
    assert_eq!(acl[1].grantee, bobs);
    s.set_rights(alice, projects, &bobs, None).unwrap();
    assert!(matches!(
        s.mailbox_entries(bob, projects),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.email_raw(bob, entries[0].email),
        Err(StoreError::NotFound(_))
    ));
    // `anyone` covers every account.
    s.set_rights(alice, projects, &Grantee::Anyone, rights("lr"))
        .unwrap();
    assert_eq!(s.my_rights(carol, projects).unwrap().letters(), "lr");
    // The owner's rights are fixed.
    assert!(matches!(
        s.set_rights(
            alice,
            projects,
            &Grantee::Account("alice@example.org".into()),
            rights("l")
        ),
        Err(StoreError::Refused(_))
    ));
    assert_clean(&s);
}

/// RFC 4314 §4: `k` creates inside another account's mailbox, `x`
/// deletes, both rename; a new mailbox starts with its parent's ACL.
#[test]
fn create_rename_and_delete_in_another_account_need_k_and_x() {
    let (_d, s) = store();
    let alice = account(&s, "alice@example.org");
    let bob = account(&s, "bob@example.org");
    let name = |n: &str| MailboxName::new(n).unwrap();
    let team = s.create_mailbox(alice, &name("Team"), None).unwrap();
    let bobs = Grantee::Account("bob@example.org".into());
    // Nothing granted: as if there were no such parent.
    assert!(matches!(
        s.create_mailbox_of(bob, alice, &name("Team/Notes")),
        Err(StoreError::NotFound(_))
    ));
    s.set_rights(alice, team, &bobs, rights("lr")).unwrap();
    assert!(matches!(
        s.create_mailbox_of(bob, alice, &name("Team/Notes")),
        Err(StoreError::NoPermission(_))
    ));
    // Only below a mailbox: the top level is the owner's.
    assert!(matches!(
        s.create_mailbox_of(bob, alice, &name("Top")),
        Err(StoreError::NotFound(_))
    ));
    s.set_rights(alice, team, &bobs, rights("lrkx")).unwrap();
    let notes = s
        .create_mailbox_of(bob, alice, &name("Team/Notes"))
        .unwrap();
    assert_eq!(named(&s, alice, "Team/Notes").id, notes);
    assert_eq!(s.my_rights(bob, notes).unwrap().letters(), "lrkx");
    // The owner's own new child inherits too.
    let plans = s.create_mailbox(alice, &name("Team/Plans"), None).unwrap();
    assert_eq!(s.my_rights(bob, plans).unwrap().letters(), "lrkx");
    s.rename_mailbox_of(bob, notes, &name("Team/Notes2"))
        .unwrap();
    assert_eq!(named(&s, alice, "Team/Notes2").id, notes);
    // Renaming out to where bob has no `k` is refused.
    assert!(matches!(
        s.rename_mailbox_of(bob, notes, &name("Elsewhere")),
        Err(StoreError::NotFound(_))
    ));
    s.delete_mailbox_of(bob, notes).unwrap();
    assert!(s.mailbox(alice, &name("Team/Notes2")).unwrap().is_none());
    s.set_rights(alice, plans, &bobs, rights("lr")).unwrap();
    assert!(matches!(
        s.delete_mailbox_of(bob, plans),
        Err(StoreError::NoPermission(_))
    ));
    // SUBSCRIBE needs `l`.
    s.subscribe_shared(bob, plans, &name("shared/alice@example.org/Team/Plans"))
        .unwrap();
    assert!(
        s.subscriptions(bob)
            .unwrap()
            .contains(&name("shared/alice@example.org/Team/Plans"))
    );
    assert_clean(&s);
}
