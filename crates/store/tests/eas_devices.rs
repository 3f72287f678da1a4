//! Exchange ActiveSync devices and their sync state: per account, kept
//! across a reopen (on PostgreSQL: seen by another node), gone with the
//! device or the account. Part of the conformance suite (`common::store`).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::store;
use tidings_store::{EasDevice, EasWipe};
use tidings_types::Secret;

fn device(account: tidings_types::AccountId, id: &str) -> EasDevice {
    EasDevice {
        account,
        device_id: id.into(),
        device_type: "iPhone".into(),
        user_agent: "Apple-iPhone/1".into(),
        model: String::new(),
        policy_key: 0,
        pending_key: 0,
        wipe: EasWipe::None,
        created: 1000,
        last_seen: 1000,
    }
}

#[test]
fn devices_and_sync_state_belong_to_their_account() {
    let (backing, s) = store();
    let ann = s
        .create_account("ann@example.org", &Secret::new("pw".into()))
        .unwrap();
    let bob = s
        .create_account("bob@example.org", &Secret::new("pw".into()))
        .unwrap();

    s.eas_put_device(&device(ann, "phone")).unwrap();
    s.eas_put_device(&device(bob, "phone")).unwrap();
    let mut d = s.eas_device(ann, "phone").unwrap().unwrap();
    d.policy_key = 42;
    d.wipe = EasWipe::Requested;
    d.created = 5; // not changed by an update
    d.last_seen = 2000;
    s.eas_put_device(&d).unwrap();
    let got = s.eas_device(ann, "phone").unwrap().unwrap();
    assert_eq!(
        (got.policy_key, got.wipe, got.created, got.last_seen),
        (42, EasWipe::Requested, 1000, 2000)
    );
    assert_eq!(s.eas_device(bob, "phone").unwrap().unwrap().policy_key, 0);
    assert_eq!(s.eas_device(ann, "tablet").unwrap(), None);

    s.eas_set_sync_state(ann, "phone", "5", Some(b"ann's".to_vec()))
        .unwrap();
    s.eas_set_sync_state(bob, "phone", "5", Some(b"bob's".to_vec()))
        .unwrap();
    assert_eq!(
        s.eas_sync_state(ann, "phone", "5").unwrap().unwrap(),
        b"ann's"
    );
    s.eas_set_sync_state(ann, "phone", "5", Some(b"again".to_vec()))
        .unwrap();
    let s = backing.reopen(s);
    assert_eq!(
        s.eas_sync_state(ann, "phone", "5").unwrap().unwrap(),
        b"again"
    );
    assert_eq!(s.eas_devices(ann).unwrap().len(), 1);
    s.eas_set_sync_state(ann, "phone", "5", None).unwrap();
    assert_eq!(s.eas_sync_state(ann, "phone", "5").unwrap(), None);
    s.eas_set_sync_state(ann, "phone", "6", Some(b"x".to_vec()))
        .unwrap();
    assert!(s.eas_delete_device(ann, "phone").unwrap());
    assert!(!s.eas_delete_device(ann, "phone").unwrap());
    assert_eq!(s.eas_sync_state(ann, "phone", "6").unwrap(), None);
    // Sync state needs its device.
    assert!(
        s.eas_set_sync_state(ann, "nodevice", "5", Some(b"x".to_vec()))
            .is_err()
    );

    s.delete_account("bob@example.org").unwrap();
    assert!(s.eas_devices(bob).unwrap().is_empty());
    assert_eq!(s.eas_sync_state(bob, "phone", "5").unwrap(), None);
    assert!(s.check().unwrap().problems.is_empty());
}
