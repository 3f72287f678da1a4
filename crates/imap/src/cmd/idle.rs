//! IDLE (RFC 2177, RFC 9051 §6.3.13).

use std::io;

use tidings_imap_proto::{Continue, Frame, Status, Tag, parse_idle_done};
use tokio::io::AsyncReadExt;
use tokio::sync::broadcast;

use crate::connection::READ_SIZE;
use crate::session::{Flow, Session, State};

impl Session {
    pub(crate) async fn idle(&mut self, tag: &Tag) -> io::Result<Flow> {
        self.sync(true, true).await?;
        self.put(Continue::Text("idling".into()));
        self.flush().await?;
        let poll = self.shared.config.idle_poll;
        let timeout = self.shared.config.idle_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut buf = [0u8; READ_SIZE];
        loop {
            match self.framer.next_frame() {
                Frame::Incomplete => {}
                Frame::Complete(line) => {
                    self.sync(true, false).await?;
                    if parse_idle_done(&line) {
                        self.put(Status::ok(tag, "IDLE terminated"));
                    } else {
                        self.put(Status::bad(tag, "Expected DONE"));
                    }
                    return Ok(Flow::Continue);
                }
                Frame::NeedContinuation { .. } | Frame::Rejected { .. } => {
                    self.put(Status::bad(tag, "Expected DONE"));
                    return Ok(Flow::Continue);
                }
                Frame::Fatal { error, .. } => {
                    self.put(error.bye());
                    return Ok(Flow::Close);
                }
            }
            let Some(stream) = self.stream.as_mut() else {
                return Ok(Flow::Close);
            };
            let event = async {
                match self.events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.shutdown.cancelled() => {
                    self.put(Status::bye("Server shutting down"));
                    return Ok(Flow::Close);
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.put(Status::bye("Autologout; idle for too long"));
                    return Ok(Flow::Close);
                }
                r = stream.read(&mut buf) => {
                    let n = r?;
                    if n == 0 {
                        return Ok(Flow::Close);
                    }
                    self.push_input(&buf[..n])?;
                }
                ev = event => {
                    let mine = match (&ev, &self.state) {
                        (Ok(ev), State::Selected { account, view }) => {
                            ev.account == *account && ev.mailboxes.contains(&view.mailbox)
                        }
                        (Ok(_), _) => false,
                        // Missed events: ask the store.
                        (Err(broadcast::error::RecvError::Lagged(_)), _) => true,
                        // The store is closing: no more events, keep polling.
                        (Err(broadcast::error::RecvError::Closed), _) => {
                            self.events = None;
                            false
                        }
                    };
                    if mine {
                        self.dirty = true;
                        self.sync(true, false).await?;
                        self.flush().await?;
                    }
                }
                _ = tokio::time::sleep(poll) => {
                    self.sync(true, true).await?;
                    self.flush().await?;
                }
            }
        }
    }
}
