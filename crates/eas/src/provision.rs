//! Provision (MS-ASPROV §3.1.5.1): the two-step policy handshake, and
//! remote wipe (§3.1.5.2).
//!
//! The first request gets the policy and a temporary key, which the
//! device acknowledges in a second request and exchanges for the final
//! key it sends with every command (`X-MS-PolicyKey`). The policy is
//! permissive: no device password, no encryption demanded, every
//! feature allowed.

use tidings_eas_proto::Element;
use tidings_eas_proto::tags::{Provision as P, Settings as S};
use tidings_store::EasWipe;

use crate::{Ctx, Error, Reply, Result, blocking, status};

const POLICY_TYPE: &str = "MS-EAS-Provisioning-WBXML";
// Policy status (MS-ASPROV §2.2.2.54.1).
const UNKNOWN_POLICY_TYPE: u32 = 3;
const WRONG_KEY: u32 = 5;

fn policy_document() -> Element {
    let settings: &[(tidings_eas_proto::Tag, &str)] = &[
        (P::DevicePasswordEnabled, "0"),
        (P::AlphanumericDevicePasswordRequired, "0"),
        (P::PasswordRecoveryEnabled, "0"),
        (P::RequireStorageCardEncryption, "0"),
        (P::AttachmentsEnabled, "1"),
        (P::AllowSimpleDevicePassword, "1"),
        (P::AllowStorageCard, "1"),
        (P::AllowCamera, "1"),
        (P::RequireDeviceEncryption, "0"),
        (P::AllowUnsignedApplications, "1"),
        (P::AllowUnsignedInstallationPackages, "1"),
        (P::AllowWiFi, "1"),
        (P::AllowTextMessaging, "1"),
        (P::AllowPOPIMAPEmail, "1"),
        (P::AllowBluetooth, "2"),
        (P::AllowIrDA, "1"),
        (P::RequireManualSyncWhenRoaming, "0"),
        (P::AllowDesktopSync, "1"),
        (P::MaxCalendarAgeFilter, "0"),
        (P::AllowHTMLEmail, "1"),
        (P::MaxEmailAgeFilter, "0"),
        (P::AllowBrowser, "1"),
        (P::AllowConsumerEmail, "1"),
        (P::AllowRemoteDesktop, "1"),
        (P::AllowInternetSharing, "1"),
    ];
    let mut doc = Element::new(P::EASProvisionDoc);
    for (tag, value) in settings {
        doc.push(Element::text(*tag, *value));
    }
    doc
}

fn random_key() -> u32 {
    crate::state::fresh_nonce() & 0x7FFF_FFFF | 1
}

pub(crate) async fn provision(ctx: &Ctx<'_>, body: &Element) -> Result<Reply> {
    let mut device = ctx.device.clone();
    let mut reply = Element::new(P::Provision);
    if let Some(set) = body
        .child(S::DeviceInformation)
        .and_then(|d| d.child(S::Set))
    {
        if let Some(m) = set.child_text(S::Model) {
            device.model = m.chars().take(200).collect();
        }
        if let Some(a) = set.child_text(S::UserAgent) {
            device.user_agent = a.chars().take(200).collect();
        }
        reply.push(Element::new(S::DeviceInformation).with_text(S::Status, "1"));
    }
    reply.push(Element::text(P::Status, "1"));

    // Remote wipe: announced, then acknowledged.
    if let Some(ack) = body.child(P::RemoteWipe) {
        if device.wipe == EasWipe::Requested && ack.child_text(P::Status).as_deref() == Some("1") {
            device.wipe = EasWipe::Done;
            device.policy_key = 0;
            save(ctx, device).await?;
        }
        return Ok(Reply::of(
            &Element::new(P::Provision)
                .with_text(P::Status, "1")
                .with(Element::new(P::RemoteWipe)),
        ));
    }
    if device.wipe == EasWipe::Requested {
        return Ok(Reply::of(&reply.with(Element::new(P::RemoteWipe))));
    }

    let policy = body
        .child(P::Policies)
        .and_then(|p| p.child(P::Policy))
        .ok_or(Error::Status(status::INVALID_XML))?;
    let kind = policy.child_text(P::PolicyType).unwrap_or_default();
    if kind != POLICY_TYPE {
        let p = Element::new(P::Policy)
            .with_text(P::PolicyType, kind)
            .with_text(P::Status, UNKNOWN_POLICY_TYPE.to_string());
        return Ok(Reply::of(&reply.with(Element::new(P::Policies).with(p))));
    }
    let answer = match policy.child_text(P::PolicyKey) {
        // Step 2: the device acknowledges the temporary key.
        Some(key) => {
            let acked = key.trim().parse::<u32>().ok();
            if device.pending_key != 0 && acked == Some(device.pending_key) {
                device.policy_key = random_key();
                device.pending_key = 0;
                let key = device.policy_key;
                save(ctx, device).await?;
                Element::new(P::Policy)
                    .with_text(P::PolicyType, POLICY_TYPE)
                    .with_text(P::Status, "1")
                    .with_text(P::PolicyKey, key.to_string())
            } else {
                Element::new(P::Policy)
                    .with_text(P::PolicyType, POLICY_TYPE)
                    .with_text(P::Status, WRONG_KEY.to_string())
            }
        }
        // Step 1: the policy and a temporary key.
        None => {
            device.pending_key = random_key();
            let key = device.pending_key;
            save(ctx, device).await?;
            Element::new(P::Policy)
                .with_text(P::PolicyType, POLICY_TYPE)
                .with_text(P::Status, "1")
                .with_text(P::PolicyKey, key.to_string())
                .with(Element::new(P::Data).with(policy_document()))
        }
    };
    Ok(Reply::of(
        &reply.with(Element::new(P::Policies).with(answer)),
    ))
}

async fn save(ctx: &Ctx<'_>, device: tidings_store::EasDevice) -> Result<()> {
    let store = ctx.store.clone();
    blocking(move || store.eas_put_device(&device).map_err(Error::from)).await
}
