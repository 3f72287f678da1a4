//! What a node has heard of each account's MODSEQ, for catching up on
//! commits whose change events it did not get: another process's commits
//! on SQLite (`sqlite::writer`), and the NOTIFYs lost while PostgreSQL's
//! change listener was reconnecting (`postgres`). Both read every
//! account's MODSEQ and publish an event for each account that moved past
//! what was heard of it.

use std::collections::HashMap;

use tidings_types::{AccountId, ModSeq};

/// The MODSEQ of each account as of the last event heard of it (or the
/// last catch-up).
#[derive(Debug, Default)]
pub(crate) struct Heard(HashMap<AccountId, ModSeq>);

impl Heard {
    /// An event heard: `account` is at `modseq` at least.
    pub(crate) fn heard(&mut self, account: AccountId, modseq: ModSeq) {
        let m = self.0.entry(account).or_insert(modseq);
        *m = (*m).max(modseq);
    }

    /// Takes every account's MODSEQ `now` and returns the accounts that
    /// moved past what was heard of them, with the MODSEQ heard last (0 for
    /// an account never heard of) and the one now; all are remembered.
    pub(crate) fn moved(
        &mut self,
        now: impl IntoIterator<Item = (AccountId, ModSeq)>,
    ) -> Vec<(AccountId, ModSeq, ModSeq)> {
        let mut moved = Vec::new();
        for (account, modseq) in now {
            let last = self.0.get(&account).copied();
            if last.is_none_or(|l| l < modseq) {
                moved.push((account, last.unwrap_or(ModSeq(0)), modseq));
            }
            self.heard(account, modseq);
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_names_accounts_past_what_was_heard_and_remembers_them() {
        let mut h = Heard::default();
        assert_eq!(
            h.moved([(AccountId(1), ModSeq(5))]),
            [(AccountId(1), ModSeq(0), ModSeq(5))]
        );
        h.heard(AccountId(1), ModSeq(7));
        h.heard(AccountId(1), ModSeq(6));
        assert!(h.moved([(AccountId(1), ModSeq(7))]).is_empty());
        assert_eq!(
            h.moved([(AccountId(1), ModSeq(9)), (AccountId(2), ModSeq(1))]),
            [
                (AccountId(1), ModSeq(7), ModSeq(9)),
                (AccountId(2), ModSeq(0), ModSeq(1))
            ]
        );
    }
}
