//! The Sender Rewriting Scheme (SRS), in the format of libsrs2 and
//! postsrsd, for mail this server forwards to another domain (aliases with
//! remote targets).
//!
//! A forwarded message keeps its original sender's domain in `MAIL FROM`
//! only at the cost of failing SPF (RFC 7208) at the next hop: our address
//! is not in that domain's record. So the envelope sender is rewritten
//! into one of our own domains, in a form that lets us route a bounce back:
//!
//! - `SRS0=HHHH=TT=domain=local@our.domain` for an ordinary sender
//!   `local@domain`: `HHHH` is the first four characters of the base64
//!   HMAC-SHA1 (keyed with our secret) of `TT`, `domain` and `local`
//!   (lowercased), `TT` the day of the rewrite in two base32 characters
//!   (the day count modulo 1024).
//! - `SRS1=HHHH=first.forwarder==HHHH=TT=domain=local@our.domain` for a
//!   sender that is already an SRS0 address of another forwarder: only the
//!   first forwarder's domain and its opaque part are kept (hashed again
//!   with our key), so the address does not grow with each hop.
//!
//! A bounce to an SRS address of ours is accepted only when its hash
//! verifies with one of the keys (the first signs; older ones still
//! verify, for a rotation) and, for SRS0, when its day is at most
//! `max_age_days` old (21 by default, as in libsrs2); it then goes to the
//! original sender (SRS0) or back to the first forwarder (SRS1).
//!
//! The null reverse-path `<>` is never rewritten (RFC 5321 §4.5.5: a
//! bounce is not bounced), and neither is a sender in a local domain,
//! whose SPF record already names us.

use base64::Engine;
use ring::hmac;

/// libsrs2's defaults.
const HASH_LENGTH: usize = 4;
const DAY: i64 = 86_400;
const TIME_SLOTS: i64 = 1024;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The separators libsrs2 accepts after `SRS0`/`SRS1` (it writes `=`).
const SEPARATORS: &[u8] = b"=+-";

/// Why an SRS address is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SrsError {
    #[error("malformed SRS address")]
    Malformed,
    #[error("SRS address with a hash that does not verify")]
    BadHash,
    #[error("SRS address too old")]
    Expired,
}

/// The SRS keys and the age limit of bounces.
pub struct Srs {
    keys: Vec<hmac::Key>,
    max_age_days: i64,
}

impl std::fmt::Debug for Srs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Srs")
            .field("keys", &self.keys.len())
            .field("max_age_days", &self.max_age_days)
            .finish()
    }
}

impl Srs {
    /// `secrets`: the first signs, every one verifies. `None` without any.
    pub fn new(secrets: &[Vec<u8>], max_age_days: u32) -> Option<Srs> {
        if secrets.is_empty() {
            return None;
        }
        Some(Srs {
            keys: secrets
                .iter()
                .map(|s| hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, s))
                .collect(),
            max_age_days: i64::from(max_age_days),
        })
    }

    /// The secrets of a key file: one a line, the first signing; blank
    /// lines and `#` comments are skipped.
    pub fn parse_key_file(text: &str) -> Vec<Vec<u8>> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.as_bytes().to_vec())
            .collect()
    }

    /// Whether `local` (a local part) has the form of an SRS address.
    pub fn is_srs(local: &str) -> bool {
        let b = local.as_bytes();
        b.len() > 4
            && (b[..4].eq_ignore_ascii_case(b"SRS0") || b[..4].eq_ignore_ascii_case(b"SRS1"))
            && SEPARATORS.contains(&b[4])
    }

    fn hash_with(key: &hmac::Key, parts: &[&str]) -> String {
        let mut ctx = hmac::Context::with_key(key);
        for p in parts {
            ctx.update(p.to_ascii_lowercase().as_bytes());
        }
        let tag = ctx.sign();
        let mut b64 = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
        b64.truncate(HASH_LENGTH);
        b64
    }

    fn hash(&self, parts: &[&str]) -> String {
        // `new` refuses an empty key list.
        self.keys
            .first()
            .map(|k| Self::hash_with(k, parts))
            .unwrap_or_default()
    }

    /// Whether `hash` verifies with any key. Case-insensitively, as
    /// libsrs2 does: mail systems on the way may fold the local part's case.
    fn verify(&self, hash: &str, parts: &[&str]) -> bool {
        hash.len() == HASH_LENGTH
            && self
                .keys
                .iter()
                .any(|k| Self::hash_with(k, parts).eq_ignore_ascii_case(hash))
    }

    fn timestamp(now: i64) -> String {
        let day = now.div_euclid(DAY).rem_euclid(TIME_SLOTS);
        let (hi, lo) = ((day >> 5) & 31, day & 31);
        [BASE32[hi as usize] as char, BASE32[lo as usize] as char]
            .iter()
            .collect()
    }

    fn check_timestamp(&self, stamp: &str, now: i64) -> Result<(), SrsError> {
        let digit = |c: u8| {
            BASE32
                .iter()
                .position(|b| *b == c.to_ascii_uppercase())
                .map(|p| p as i64)
        };
        let &[a, b] = stamp.as_bytes() else {
            return Err(SrsError::Malformed);
        };
        let then = match (digit(a), digit(b)) {
            (Some(a), Some(b)) => (a << 5) | b,
            _ => return Err(SrsError::Malformed),
        };
        let mut today = now.div_euclid(DAY).rem_euclid(TIME_SLOTS);
        if today < then {
            today += TIME_SLOTS;
        }
        if today - then > self.max_age_days {
            return Err(SrsError::Expired);
        }
        Ok(())
    }

    /// The envelope sender of a copy forwarded by `alias_domain` (one of
    /// ours): `sender` rewritten as above. An address without `@` is
    /// returned as it is (the null reverse-path is the caller's to keep).
    pub fn forward(&self, sender: &str, alias_domain: &str, now: i64) -> String {
        let Some((user, host)) = sender.rsplit_once('@') else {
            return sender.to_string();
        };
        if Self::is_srs(user) {
            let tail = &user[4..];
            if user[..4].eq_ignore_ascii_case("SRS1") {
                // SRS1=hash=first.host=<rest>: keep the first forwarder.
                let mut it = tail[1..].splitn(3, '=');
                if let (Some(_), Some(first), Some(rest)) = (it.next(), it.next(), it.next()) {
                    let hash = self.hash(&[first, rest]);
                    return format!("SRS1={hash}={first}={rest}@{alias_domain}");
                }
            } else {
                // SRS0 of another forwarder: its host and opaque part.
                let hash = self.hash(&[host, tail]);
                return format!("SRS1={hash}={host}={tail}@{alias_domain}");
            }
        }
        let stamp = Self::timestamp(now);
        let hash = self.hash(&[&stamp, host, user]);
        format!("SRS0={hash}={stamp}={host}={user}@{alias_domain}")
    }

    /// The address a bounce to the SRS local part `local` (of one of our
    /// domains) goes to: the original sender for SRS0, the first
    /// forwarder's SRS0 address for SRS1.
    pub fn reverse(&self, local: &str, now: i64) -> Result<String, SrsError> {
        if !Self::is_srs(local) {
            return Err(SrsError::Malformed);
        }
        let srs1 = local[..4].eq_ignore_ascii_case("SRS1");
        let body = &local[5..];
        if srs1 {
            let mut it = body.splitn(3, '=');
            let (Some(hash), Some(host), Some(rest)) = (it.next(), it.next(), it.next()) else {
                return Err(SrsError::Malformed);
            };
            if host.is_empty() || !rest.starts_with('=') || rest.len() < 2 {
                return Err(SrsError::Malformed);
            }
            if !self.verify(hash, &[host, rest]) {
                return Err(SrsError::BadHash);
            }
            return Ok(format!("SRS0{rest}@{host}"));
        }
        let mut it = body.splitn(4, '=');
        let (Some(hash), Some(stamp), Some(host), Some(user)) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(SrsError::Malformed);
        };
        if host.is_empty() || user.is_empty() {
            return Err(SrsError::Malformed);
        }
        if !self.verify(hash, &[stamp, host, user]) {
            return Err(SrsError::BadHash);
        }
        self.check_timestamp(stamp, now)?;
        Ok(format!("{user}@{host}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: i64 = 1_780_000_000;

    fn srs() -> Srs {
        Srs::new(&[b"new secret".to_vec(), b"old secret".to_vec()], 21).unwrap()
    }

    #[test]
    fn srs0_round_trip_and_case_folding() {
        let s = srs();
        let a = s.forward("Alice@Sender.test", "example.org", NOW);
        let (local, domain) = a.rsplit_once('@').unwrap();
        assert_eq!(domain, "example.org");
        assert!(local.starts_with("SRS0="), "{a}");
        assert!(local.ends_with("=Sender.test=Alice"), "{a}");
        assert_eq!(s.reverse(local, NOW).unwrap(), "Alice@Sender.test");
        // A hop that lowercases the address.
        assert_eq!(
            s.reverse(&local.to_lowercase(), NOW + DAY).unwrap(),
            "alice@sender.test"
        );
    }

    #[test]
    fn expired_forged_and_malformed_are_refused() {
        let s = srs();
        let a = s.forward("alice@sender.test", "example.org", NOW);
        let local = a.rsplit_once('@').unwrap().0;
        assert_eq!(
            s.reverse(local, NOW + 21 * DAY),
            Ok("alice@sender.test".into())
        );
        assert_eq!(s.reverse(local, NOW + 22 * DAY), Err(SrsError::Expired));
        let forged = local.replace("=alice", "=mallory");
        assert_eq!(s.reverse(&forged, NOW), Err(SrsError::BadHash));
        assert_eq!(s.reverse("SRS0=xx", NOW), Err(SrsError::Malformed));
        assert_eq!(s.reverse("bob", NOW), Err(SrsError::Malformed));
        // Another server's key does not verify.
        let other = Srs::new(&[b"theirs".to_vec()], 21).unwrap();
        assert_eq!(other.reverse(local, NOW), Err(SrsError::BadHash));
    }

    #[test]
    fn an_old_key_still_verifies_after_rotation() {
        let old = Srs::new(&[b"old secret".to_vec()], 21).unwrap();
        let a = old.forward("alice@sender.test", "example.org", NOW);
        let local = a.rsplit_once('@').unwrap().0;
        assert_eq!(srs().reverse(local, NOW), Ok("alice@sender.test".into()));
    }

    #[test]
    fn srs1_keeps_the_first_forwarder_and_reverses_to_its_srs0() {
        let first = Srs::new(&[b"first".to_vec()], 21).unwrap();
        let hop1 = first.forward("alice@sender.test", "first.test", NOW);
        let s = srs();
        let hop2 = s.forward(&hop1, "example.org", NOW);
        let local2 = hop2.rsplit_once('@').unwrap().0;
        assert!(local2.starts_with("SRS1="), "{hop2}");
        assert!(local2.contains("=first.test=="), "{hop2}");
        // A third hop rewrites the SRS1 again, still naming first.test.
        let hop3 = s.forward(&hop2, "third.test", NOW);
        assert!(hop3.contains("=first.test=="), "{hop3}");
        assert_eq!(s.reverse(local2, NOW).unwrap(), hop1);
        let local3 = hop3.rsplit_once('@').unwrap().0;
        assert_eq!(s.reverse(local3, NOW).unwrap(), hop1);
        // And the first forwarder reverses its own.
        let local1 = hop1.rsplit_once('@').unwrap().0;
        assert_eq!(first.reverse(local1, NOW).unwrap(), "alice@sender.test");
    }

    #[test]
    fn the_timestamp_wraps_at_1024_days() {
        let s = srs();
        let day = 1023 * DAY; // the last slot
        let a = s.forward("a@b.test", "example.org", day);
        let local = a.rsplit_once('@').unwrap().0;
        assert!(local.contains("=77="), "{a}");
        assert!(s.reverse(local, day + 3 * DAY).is_ok());
    }
}
