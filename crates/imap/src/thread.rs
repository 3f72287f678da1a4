//! THREAD=REFERENCES (RFC 5256 §3, the "REFERENCES" algorithm, itself
//! Jamie Zawinski's threading): parents from Message-ID / References /
//! In-Reply-To, dummy containers for messages that are referenced but not
//! in the result, pruning, then grouping of root threads by base subject.
//!
//! Implementation notes:
//! - Containers live in one `Vec`, linked by index; a link that would make
//!   a loop is not made (RFC 5256 step 1).
//! - A message without a Message-ID, or with one already seen, gets a
//!   container of its own (RFC 5256 step 1.A).
//! - Dates are sent dates (INTERNALDATE when there is no Date header); a
//!   dummy's date is its first child's. Ties go by sequence number.
//! - "Is a reply" (step 5) means the base subject differs from the
//!   whitespace-normalised subject: a `Re:`, `Fwd:` or similar was removed.
//! - Bounded work on data a sender controls: at most
//!   [`tidings_store::MAX_REFERENCES`] ids of a References field are used
//!   (the first and the nearest ones), an ancestor walk stops after
//!   [`MAX_THREAD_DEPTH`] steps (a deeper link is not made), and after
//!   step 1 containers deeper than [`MAX_THREAD_DEPTH`] hang from their
//!   ancestor at that depth. So the recursive walks below (pruning,
//!   sorting, the output tree) go at most about `MAX_THREAD_DEPTH` levels
//!   deep, whatever the mailbox holds.

use std::collections::HashMap;

use tidings_imap_proto::ThreadTree;

use crate::sort::base_subject;

/// One message to thread.
#[derive(Clone, Debug)]
pub struct Msg {
    /// The number to report (sequence number or UID).
    pub id: u32,
    pub seq: u32,
    pub date: i64,
    pub message_id: Option<String>,
    /// References, oldest first (without angle brackets).
    pub references: Vec<String>,
    pub in_reply_to: Vec<String>,
    pub subject: String,
}

/// How deep a thread may nest (RFC 5256 sets no bound). Real reply chains
/// are far shallower; this bounds the recursion of the tree walks and the
/// cost of each ancestor check, which a message with thousands of
/// References (or many messages chained on purpose) would otherwise make
/// quadratic and overflow the stack with.
pub const MAX_THREAD_DEPTH: usize = 1000;

#[derive(Default, Debug)]
struct Container {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Threader<'a> {
    msgs: &'a [Msg],
    c: Vec<Container>,
}

impl Threader<'_> {
    fn new_container(&mut self) -> usize {
        self.c.push(Container::default());
        self.c.len() - 1
    }

    /// Whether `a` is `b` or one of its ancestors. Also true when `b` is
    /// deeper than [`MAX_THREAD_DEPTH`]: the caller then makes no link.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let mut cur = Some(b);
        let mut steps = 0;
        while let Some(x) = cur {
            if x == a {
                return true;
            }
            cur = self.c[x].parent;
            steps += 1;
            if steps > MAX_THREAD_DEPTH {
                return true; // too deep (or a loop): refuse more links
            }
        }
        false
    }

    /// Hangs every container deeper than [`MAX_THREAD_DEPTH`] from its
    /// ancestor at that depth. Iterative: the tree may be arbitrarily deep
    /// here.
    fn flatten_deep(&mut self) {
        let roots: Vec<usize> = (0..self.c.len())
            .filter(|&x| self.c[x].parent.is_none())
            .collect();
        let mut stack: Vec<(usize, usize)> = roots.into_iter().map(|r| (r, 0)).collect();
        while let Some((x, depth)) = stack.pop() {
            if depth < MAX_THREAD_DEPTH {
                stack.extend(self.c[x].children.iter().map(|&k| (k, depth + 1)));
                continue;
            }
            // Every descendant of x becomes a direct child of x.
            let mut below = std::mem::take(&mut self.c[x].children);
            let mut all = Vec::new();
            while let Some(k) = below.pop() {
                below.append(&mut self.c[k].children);
                self.c[k].parent = Some(x);
                all.push(k);
            }
            self.c[x].children = all;
        }
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.c[child].parent.take() {
            self.c[p].children.retain(|&x| x != child);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.unlink(child);
        self.c[child].parent = Some(parent);
        self.c[parent].children.push(child);
    }

    fn date(&self, x: usize) -> (i64, u32) {
        match self.c[x].msg {
            Some(m) => (self.msgs[m].date, self.msgs[m].seq),
            None => self.c[x]
                .children
                .first()
                .map_or((i64::MAX, u32::MAX), |&f| self.date(f)),
        }
    }

    fn sort_children(&mut self, x: usize) {
        let mut kids = std::mem::take(&mut self.c[x].children);
        for &k in &kids {
            self.sort_children(k);
        }
        kids.sort_by_key(|&k| self.date(k));
        self.c[x].children = kids;
    }

    /// RFC 5256 step 3: prunes the children of `x`; returns what replaces
    /// `x` in its parent's list.
    fn prune(&mut self, x: usize, at_root: bool) -> Vec<usize> {
        let kids = std::mem::take(&mut self.c[x].children);
        let mut new_kids = Vec::new();
        for k in kids {
            for r in self.prune(k, false) {
                self.c[r].parent = Some(x);
                new_kids.push(r);
            }
        }
        self.c[x].children = new_kids;
        if self.c[x].msg.is_some() {
            return vec![x];
        }
        match self.c[x].children.len() {
            0 => vec![],
            n if at_root && n > 1 => vec![x],
            _ => {
                let kids = std::mem::take(&mut self.c[x].children);
                for &k in &kids {
                    self.c[k].parent = None;
                }
                kids
            }
        }
    }

    fn subject_of(&self, x: usize) -> Option<(String, bool)> {
        let m = match self.c[x].msg {
            Some(m) => m,
            None => self.c[x].children.first().and_then(|&f| self.c[f].msg)?,
        };
        let raw = &self.msgs[m].subject;
        let base = base_subject(raw);
        if base.is_empty() {
            return None;
        }
        let normalised = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        Some((base.to_ascii_uppercase(), base != normalised))
    }

    fn tree(&self, x: usize) -> ThreadTree {
        ThreadTree {
            members: self.c[x].msg.map(|m| self.msgs[m].id).into_iter().collect(),
            children: self.c[x].children.iter().map(|&k| self.tree(k)).collect(),
        }
    }
}

/// Threads `msgs` with the REFERENCES algorithm.
pub fn references(msgs: &[Msg]) -> Vec<ThreadTree> {
    let mut t = Threader {
        msgs,
        c: Vec::new(),
    };
    let mut by_id: HashMap<String, usize> = HashMap::new();
    // Step 1.
    for (i, m) in msgs.iter().enumerate() {
        let own = match m.message_id.as_ref().and_then(|id| by_id.get(id).copied()) {
            Some(c) if t.c[c].msg.is_none() => c,
            _ => {
                let c = t.new_container();
                if let Some(id) = &m.message_id {
                    by_id.entry(id.clone()).or_insert(c);
                }
                c
            }
        };
        t.c[own].msg = Some(i);
        let capped = tidings_store::capped_references(&m.references);
        let refs: Vec<&String> = if capped.is_empty() {
            m.in_reply_to.iter().take(1).collect()
        } else {
            capped.iter().collect()
        };
        let mut prev: Option<usize> = None;
        for r in refs {
            let c = match by_id.get(r.as_str()) {
                Some(&c) => c,
                None => {
                    let c = t.new_container();
                    by_id.insert(r.clone(), c);
                    c
                }
            };
            if let Some(p) = prev
                && t.c[c].parent.is_none()
                && !t.is_ancestor(c, p)
            {
                t.link(p, c);
            }
            prev = Some(c);
        }
        t.unlink(own);
        if let Some(p) = prev
            && !t.is_ancestor(own, p)
        {
            t.link(p, own);
        }
    }
    t.flatten_deep();
    // Steps 2 and 3.
    let roots: Vec<usize> = (0..t.c.len())
        .filter(|&x| t.c[x].parent.is_none())
        .collect();
    let mut root: Vec<usize> = Vec::new();
    for r in roots {
        for x in t.prune(r, true) {
            t.c[x].parent = None;
            root.push(x);
        }
    }
    // Step 4.
    for &r in &root {
        t.sort_children(r);
    }
    root.sort_by_key(|&r| t.date(r));
    // Step 5: group by base subject.
    let mut table: HashMap<String, usize> = HashMap::new();
    for &r in &root {
        let Some((subj, reply)) = t.subject_of(r) else {
            continue;
        };
        match table.get(&subj).copied() {
            None => {
                table.insert(subj, r);
            }
            Some(old) => {
                let old_reply = t.subject_of(old).is_some_and(|(_, rep)| rep);
                if (t.c[old].msg.is_some() && t.c[r].msg.is_none())
                    || (old_reply && !reply && t.c[r].msg.is_some())
                {
                    table.insert(subj, r);
                }
            }
        }
    }
    let mut result: Vec<usize> = Vec::new();
    let mut merged: Vec<bool> = vec![false; t.c.len()];
    let mut replaced: HashMap<usize, usize> = HashMap::new();
    for &r in &root {
        let target = t.subject_of(r).and_then(|(s, _)| table.get(&s).copied());
        let Some(mut other) = target.filter(|&o| o != r) else {
            continue;
        };
        while let Some(&n) = replaced.get(&other) {
            other = n;
        }
        let r_reply = t.subject_of(r).is_some_and(|(_, rep)| rep);
        let other_reply = t.subject_of(other).is_some_and(|(_, rep)| rep);
        match (t.c[other].msg.is_none(), t.c[r].msg.is_none()) {
            (true, true) => {
                let kids = std::mem::take(&mut t.c[r].children);
                for k in kids {
                    t.link(other, k);
                }
            }
            (true, false) => t.link(other, r),
            (false, _) if r_reply && !other_reply => t.link(other, r),
            _ => {
                let d = t.new_container();
                merged.push(false);
                t.link(d, other);
                t.link(d, r);
                replaced.insert(other, d);
            }
        }
        merged[r] = true;
    }
    for &r in &root {
        if merged[r] {
            continue;
        }
        let mut x = r;
        while let Some(&n) = replaced.get(&x) {
            x = n;
        }
        result.push(x);
    }
    // Step 6.
    for &r in &result {
        t.sort_children(r);
    }
    result.iter().map(|&r| t.tree(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u32, mid: &str, refs: &[&str], subject: &str) -> Msg {
        Msg {
            id,
            seq: id,
            date: i64::from(id),
            message_id: Some(mid.into()),
            references: refs.iter().map(|r| r.to_string()).collect(),
            in_reply_to: vec![],
            subject: subject.into(),
        }
    }

    fn show(t: &[ThreadTree]) -> String {
        fn one(t: &ThreadTree) -> String {
            let mut s = String::from("(");
            s += &t
                .members
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            for c in &t.children {
                s += &one(c);
            }
            s + ")"
        }
        t.iter().map(one).collect()
    }

    #[test]
    fn replies_nest_under_their_parents() {
        let msgs = vec![
            msg(1, "a", &[], "hello"),
            msg(2, "b", &["a"], "Re: hello"),
            msg(3, "c", &["a"], "Re: hello"),
            msg(4, "d", &["a", "b"], "Re: hello"),
            msg(5, "e", &[], "other"),
        ];
        assert_eq!(show(&references(&msgs)), "(1(2(4))(3))(5)");
    }

    #[test]
    fn deep_chains_do_not_overflow_the_stack() {
        // One message with 60,000 References, and 5,000 messages each
        // replying to the one before.
        let refs: Vec<String> = (0..60_000).map(|i| format!("r{i}")).collect();
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        let mut msgs = vec![msg(1, "deep", &refs, "Re: chain")];
        for i in 2..5_000u32 {
            let parent = format!("m{}", i - 1);
            let m = msg(i, &format!("m{i}"), &[parent.as_str()], "Re: chain");
            msgs.push(m);
        }
        let out = references(&msgs);
        assert!(!out.is_empty());
        // Every message is still reported once.
        fn count(t: &ThreadTree) -> usize {
            t.members.len() + t.children.iter().map(count).sum::<usize>()
        }
        assert_eq!(out.iter().map(count).sum::<usize>(), msgs.len());
    }

    #[test]
    fn missing_parents_become_dummies_and_subjects_group() {
        let msgs = vec![
            msg(1, "b", &["gone"], "Re: topic"),
            msg(2, "c", &["gone"], "Re: topic"),
            msg(3, "x", &[], "lonely"),
            msg(4, "y", &[], "Re: lonely"),
        ];
        // 1 and 2 share a missing parent: a dummy at the root. 4 is a
        // reply by subject to 3.
        assert_eq!(show(&references(&msgs)), "((1)(2))(3(4))");
    }
}
