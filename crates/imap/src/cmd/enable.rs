//! ENABLE (RFC 5161): CONDSTORE, QRESYNC, UTF8=ACCEPT, IMAP4rev2, UIDONLY
//! (RFC 9586).

use tidings_imap_proto::{Data, Status, Tag};

use crate::session::Session;

impl Session {
    pub(crate) fn enable(&mut self, tag: &Tag, caps: &[String]) -> Status {
        let mut newly = Vec::new();
        for cap in caps {
            match cap.as_str() {
                "CONDSTORE" if !self.enabled.condstore => {
                    self.enabled.condstore = true;
                    newly.push(cap.clone());
                }
                "IMAP4REV2" if !self.enabled.rev2 => {
                    self.enabled.rev2 = true;
                    self.opts.utf8 = true;
                    newly.push("IMAP4rev2".into());
                }
                // RFC 6855 §3: names and header text in UTF-8 from now on.
                "UTF8=ACCEPT" if !self.opts.utf8 => {
                    self.opts.utf8 = true;
                    newly.push(cap.clone());
                }
                "QRESYNC" if !self.enabled.qresync => {
                    // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
                    self.enabled.qresync = true;
                    self.enabled.condstore = true;
                    newly.push(cap.clone());
                }
                // RFC 9586 §3: no message numbers from now on.
                "UIDONLY" if !self.enabled.uidonly => {
                    self.enabled.uidonly = true;
                    newly.push(cap.clone());
                }
                _ => {}
            }
        }
        self.put(Data::Enabled(newly));
        Status::ok(tag, "ENABLE completed")
    }
}
