//! Property tests: random sequences of mail operations keep the store's
//! invariants (foundation issue, "Store" tests):
//! UIDs strictly increase and are never reused; MODSEQ strictly increases per
//! change; HIGHESTMODSEQ is the latest change of the mailbox; All Mail and
//! Starred rules hold; quota usage is the sum of sizes; no referenced blob is
//! deleted; "changes since N" reports exactly the emails that changed after N
//! (an email changed and changed back may be reported, never a missing one).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::*;
use proptest::prelude::*;
use tidings_store::{FlagOp, Store};
use tidings_types::{
    AccountId, EmailId, LeavePolicy, MailboxId, MailboxName, MailboxRole, ModSeq, Uid,
};

#[derive(Clone, Debug)]
enum Op {
    Append {
        mailbox: usize,
        flagged: bool,
        body: u8,
    },
    Flags {
        mailbox: usize,
        pick: usize,
        op: u8,
        flags: u8,
    },
    Copy {
        from: usize,
        pick: usize,
        to: usize,
    },
    Move {
        from: usize,
        pick: usize,
        to: usize,
    },
    DeleteAndExpunge {
        mailbox: usize,
        pick: usize,
    },
    Policy(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..7usize, any::<bool>(), 0..4u8).prop_map(|(mailbox, flagged, body)| Op::Append { mailbox, flagged, body }),
        3 => (0..7usize, any::<usize>(), 0..3u8, 0..16u8).prop_map(|(mailbox, pick, op, flags)| Op::Flags { mailbox, pick, op, flags }),
        2 => (0..7usize, any::<usize>(), 0..7usize).prop_map(|(from, pick, to)| Op::Copy { from, pick, to }),
        2 => (0..7usize, any::<usize>(), 0..7usize).prop_map(|(from, pick, to)| Op::Move { from, pick, to }),
        2 => (0..7usize, any::<usize>()).prop_map(|(mailbox, pick)| Op::DeleteAndExpunge { mailbox, pick }),
        1 => (0..3u8).prop_map(Op::Policy),
    ]
}

/// An email's visible state: keywords and the mailboxes it is in, each with
/// its UID there and that entry's `\Deleted`.
type State = BTreeMap<EmailId, (Vec<String>, BTreeSet<(MailboxId, Uid, bool)>)>;

fn snapshot(s: &Store, a: AccountId, boxes: &[MailboxId]) -> State {
    let mut state = State::new();
    for &mb in boxes {
        for e in s.mailbox_entries(a, mb).unwrap() {
            let slot = state.entry(e.email).or_default();
            slot.0 = e.keywords.iter().map(|k| k.as_str().to_string()).collect();
            slot.1.insert((mb, e.uid, e.deleted));
        }
    }
    state
}

const FLAGS: [&str; 4] = ["\\Seen", "\\Flagged", "\\Deleted", "$Work"];

fn run(ops: Vec<Op>) {
    let (_d, s) = store();
    let a = account(&s, "bob@example.org");
    s.create_mailbox(a, &MailboxName::new("Work").unwrap(), None)
        .unwrap();
    let boxes: Vec<MailboxId> = [
        mailbox(&s, a, MailboxRole::Inbox).id,
        named(&s, a, "Work").id,
        mailbox(&s, a, MailboxRole::Trash).id,
        mailbox(&s, a, MailboxRole::Junk).id,
        mailbox(&s, a, MailboxRole::All).id,
        mailbox(&s, a, MailboxRole::Flagged).id,
        mailbox(&s, a, MailboxRole::Archive).id,
    ]
    .to_vec();
    // Every (mailbox, uid) ever seen and its email; UIDs once gone stay gone.
    let mut seen: HashMap<(MailboxId, Uid), EmailId> = HashMap::new();
    let mut gone: BTreeSet<(MailboxId, Uid)> = BTreeSet::new();
    let mut history: Vec<(ModSeq, State)> = vec![(
        s.account_by_id(a).unwrap().unwrap().modseq,
        snapshot(&s, a, &boxes),
    )];

    for op in ops {
        let pick = |mb: MailboxId, n: usize| -> Option<Uid> {
            let e = s.mailbox_entries(a, mb).unwrap();
            (!e.is_empty()).then(|| e[n % e.len()].uid)
        };
        match op {
            Op::Append {
                mailbox,
                flagged,
                body,
            } => {
                let raw = msg(&format!("m{body}"), &"x".repeat(usize::from(body) * 100));
                let mut e = new_email(&raw);
                if flagged {
                    e.keywords.push(kw("\\Flagged"));
                }
                s.append(a, boxes[mailbox], e).unwrap();
            }
            Op::Flags {
                mailbox,
                pick: n,
                op,
                flags,
            } => {
                if let Some(uid) = pick(boxes[mailbox], n) {
                    let fl: Vec<_> = (0..4)
                        .filter(|i| flags & (1 << i) != 0)
                        .map(|i| kw(FLAGS[i]))
                        .collect();
                    let op = [FlagOp::Add, FlagOp::Remove, FlagOp::Replace][usize::from(op)];
                    s.store_flags(a, boxes[mailbox], &[uid], op, &fl, None)
                        .unwrap();
                }
            }
            Op::Copy { from, pick: n, to } => {
                if let Some(uid) = pick(boxes[from], n) {
                    s.copy(a, boxes[from], &[uid], boxes[to]).unwrap();
                }
            }
            Op::Move { from, pick: n, to } => {
                if let Some(uid) = pick(boxes[from], n) {
                    s.move_emails(a, boxes[from], &[uid], boxes[to]).unwrap();
                }
            }
            Op::DeleteAndExpunge { mailbox, pick: n } => {
                if let Some(uid) = pick(boxes[mailbox], n) {
                    s.store_flags(
                        a,
                        boxes[mailbox],
                        &[uid],
                        FlagOp::Add,
                        &[kw("\\Deleted")],
                        None,
                    )
                    .unwrap();
                    let (expunged, _) = s.expunge(a, boxes[mailbox], Some(&[uid])).unwrap();
                    assert!(expunged.len() <= 1);
                }
            }
            Op::Policy(p) => {
                let p = [
                    LeavePolicy::Archive,
                    LeavePolicy::Trash,
                    LeavePolicy::Delete,
                ][usize::from(p)];
                s.set_policies("bob@example.org", Some(p), None).unwrap();
            }
        }

        // The store's own check: All Mail/Starred rules, quota = sum of sizes,
        // blob refs and files, UIDs below UIDNEXT, MODSEQs within bounds.
        assert_clean(&s);

        let account = s.account_by_id(a).unwrap().unwrap();
        let now = snapshot(&s, a, &boxes);
        let (prev_modseq, prev) = history.last().unwrap().clone();
        // MODSEQ strictly increases with every change, never without reason to.
        if now != prev {
            assert!(
                account.modseq > prev_modseq,
                "state changed but MODSEQ did not grow"
            );
        } else {
            assert!(account.modseq >= prev_modseq);
        }

        for (i, &mb) in boxes.iter().enumerate() {
            let entries = s.mailbox_entries(a, mb).unwrap();
            let info = s
                .mailboxes(a)
                .unwrap()
                .into_iter()
                .find(|m| m.id == mb)
                .unwrap();
            let live: BTreeSet<(MailboxId, Uid)> = entries.iter().map(|e| (mb, e.uid)).collect();
            for e in &entries {
                // A UID never names a second email, and never comes back.
                if let Some(old) = seen.insert((mb, e.uid), e.email) {
                    assert_eq!(old, e.email, "UID {} of mailbox {i} reused", e.uid);
                }
                assert!(
                    !gone.contains(&(mb, e.uid)),
                    "expunged UID {} of mailbox {i} is back",
                    e.uid
                );
                assert!(e.uid < info.uid_next);
                assert!(e.modseq <= info.highest_modseq);
            }
            for key in seen.keys().filter(|k| k.0 == mb) {
                if !live.contains(key) {
                    gone.insert(*key);
                }
            }
            // HIGHESTMODSEQ moves exactly when the mailbox's view changed.
            let view_now: BTreeMap<Uid, (EmailId, Vec<String>, bool)> = entries
                .iter()
                .map(|e| {
                    (
                        e.uid,
                        (
                            e.email,
                            e.keywords.iter().map(|k| k.to_string()).collect(),
                            e.deleted,
                        ),
                    )
                })
                .collect();
            let delta = s.mailbox_changes(a, mb, prev_modseq).unwrap();
            assert_eq!(delta.highest_modseq, info.highest_modseq);
            if delta.changed.is_empty() && delta.vanished.is_empty() {
                assert!(
                    info.highest_modseq <= prev_modseq,
                    "HIGHESTMODSEQ grew with no change in mailbox {i}"
                );
            } else {
                assert_eq!(
                    info.highest_modseq, account.modseq,
                    "mailbox {i} changed in this op"
                );
            }
            for e in &delta.changed {
                assert!(view_now.contains_key(&e.uid));
            }
        }

        history.push((account.modseq, now.clone()));
        // "Changes since N", for every earlier N: no changed email missing,
        // nothing reported that did not change at some step after N.
        for (k, (modseq, then)) in history.iter().enumerate() {
            let c = s.changes_since(a, *modseq).unwrap();
            let created: BTreeSet<EmailId> = c.created.iter().copied().collect();
            let updated: BTreeSet<EmailId> = c.updated.iter().copied().collect();
            let destroyed: BTreeSet<EmailId> = c.destroyed.iter().copied().collect();
            for (id, st) in &now {
                match then.get(id) {
                    None => assert!(
                        created.contains(id),
                        "new email {id} not reported as created"
                    ),
                    Some(old) if old != st => {
                        assert!(updated.contains(id), "changed email {id} not reported")
                    }
                    Some(_) => {}
                }
            }
            for id in then.keys() {
                if !now.contains_key(id) {
                    assert!(destroyed.contains(id), "destroyed email {id} not reported");
                }
            }
            let touched: BTreeSet<EmailId> = history[k..]
                .windows(2)
                .flat_map(|w| {
                    let (x, y) = (&w[0].1, &w[1].1);
                    x.keys()
                        .chain(y.keys())
                        .filter(|id| x.get(id) != y.get(id))
                        .copied()
                        .collect::<Vec<_>>()
                })
                .collect();
            for id in created.iter().chain(&updated).chain(&destroyed) {
                assert!(
                    touched.contains(id),
                    "email {id} reported but never changed after {modseq}"
                );
            }
            assert!(created.is_disjoint(&updated) && created.is_disjoint(&destroyed));
        }
        // No referenced blob is gone: every email's bytes are readable.
        for id in now.keys() {
            s.email_raw(a, *id).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES=500 for a longer soak.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(40),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]
    #[test]
    fn random_operations_keep_the_invariants(ops in prop::collection::vec(op(), 1..30)) {
        run(ops);
    }
}
