//! IDLE (RFC 2177, RFC 9051 §6.3.13). The session says `+ idling` and
//! returns [`Outcome::Idle`]; the connection loop then waits for the
//! client's DONE, for change events and for the poll interval, and hands
//! each to one of the methods here.

use tidings_imap_proto::{Continue, Status, Tag, parse_idle_done};
use tidings_store::ChangeEvent;
use tokio::sync::broadcast;

use crate::session::{Outcome, Session, State};

impl Session {
    pub(crate) async fn idle(&mut self, tag: &Tag) -> Outcome {
        self.sync(true, true).await;
        self.put(Continue::Text("idling".into()));
        self.idling = Some(tag.clone());
        Outcome::Idle
    }

    /// IDLE began and may last 29 minutes: give back spare capacity
    /// (the reply buffer, grown lists of the view) so that an idle
    /// session holds only what it needs.
    pub(crate) fn shrink_for_idle(&mut self) {
        self.out = Vec::new();
        self.contexts.shrink_to_fit();
        self.spooled.shrink_to_fit();
        if let State::Selected { view, saved, .. } = &mut self.state {
            view.entries.shrink_to_fit();
            view.keywords.shrink_to_fit();
            view.recent.shrink_to_fit();
            saved.shrink_to_fit();
        }
    }

    /// The line that ends IDLE: `DONE`, or anything else (BAD).
    pub(crate) async fn idle_done(&mut self, line: &[u8]) {
        let Some(tag) = self.idling.take() else {
            return;
        };
        self.sync(true, false).await;
        if parse_idle_done(line) {
            self.put(Status::ok(&tag, "IDLE terminated"));
        } else {
            self.put(Status::bad(&tag, "Expected DONE"));
        }
    }

    /// Something other than a line arrived during IDLE (a literal, or a
    /// line over the framer's limits): IDLE ends with BAD.
    pub(crate) fn idle_interrupted(&mut self) {
        if let Some(tag) = self.idling.take() {
            self.put(Status::bad(&tag, "Expected DONE"));
        }
    }

    /// IDLE ended without a tagged reply (autologout, shutdown, closed).
    pub(crate) fn idle_abandoned(&mut self) {
        self.idling = None;
    }

    /// The next change event of the store; never ready when there is no
    /// subscription (before login, or after the store closed).
    pub(crate) async fn next_event(&mut self) -> Result<ChangeEvent, broadcast::error::RecvError> {
        match self.events.as_mut() {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    /// A change event during IDLE; whether responses were added (the
    /// loop writes them at once). With NOTIFY (RFC 5465 §4) its events
    /// are sent too; a FETCH for MessageNew may leave batches in
    /// `pending` for the loop to [`Session::resume`].
    pub(crate) async fn idle_event(
        &mut self,
        ev: Result<ChangeEvent, broadcast::error::RecvError>,
    ) -> bool {
        let before = self.out.len();
        let mine = match (&ev, &self.state) {
            // A shared mailbox changes under its owner's events.
            (Ok(ev), State::Selected { view, .. }) => {
                ev.account == view.owner && ev.mailboxes.contains(&view.mailbox)
            }
            (Ok(_), _) => false,
            // Missed events: ask the store.
            (Err(broadcast::error::RecvError::Lagged(_)), _) => true,
            // The store is closing: no more events, keep polling.
            (Err(broadcast::error::RecvError::Closed), _) => false,
        };
        self.note_event(&ev);
        if mine {
            if self.notify.as_ref().is_some_and(|n| n.selected.is_some()) {
                let _ = self.notify_selected().await;
            } else {
                self.sync(true, false).await;
            }
        }
        self.notify_others().await;
        self.out.len() > before
    }

    /// Whether a command (the FETCH of a NOTIFY MessageNew) has batches
    /// left for [`Session::resume`].
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The poll interval passed during IDLE: ask the store for changes no
    /// event announced (another process, e.g. `tidings deliver`).
    pub(crate) async fn idle_poll(&mut self) {
        self.sync(true, true).await;
    }
}
