//! LIST and LSUB pattern matching (RFC 9051 §6.3.9) over the store's
//! mailbox names, whose hierarchy delimiter is `/`
//! ([`tidings_types::SEPARATOR`]).
//!
//! `*` matches anything, `%` anything but the delimiter. INBOX matches
//! case-insensitively (RFC 9051 §5.1). The reference is prepended to the
//! pattern as RFC 9051 §6.3.9 describes for a flat namespace.

use tidings_types::SEPARATOR;

/// The pattern a LIST command means: reference and mailbox pattern joined.
pub fn full_pattern(reference: &str, pattern: &str) -> String {
    if reference.is_empty() || pattern.starts_with(SEPARATOR) {
        pattern.to_string()
    } else if reference.ends_with(SEPARATOR) {
        format!("{reference}{pattern}")
    } else {
        format!("{reference}{SEPARATOR}{pattern}")
    }
}

/// Whether a stored name is INBOX (listed first).
pub fn is_inbox(name: &str) -> bool {
    name == "INBOX"
}

/// Whether `name` matches the LIST `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // INBOX in any case is INBOX, also as a prefix of a pattern.
    let inbox = |s: &[char]| {
        s.len() >= 5
            && s[..5]
                .iter()
                .collect::<String>()
                .eq_ignore_ascii_case("INBOX")
            && (s.len() == 5 || s[5] == SEPARATOR)
    };
    let (p, n) = if inbox(&p) && inbox(&n) {
        (&p[5..], &n[5..])
    } else {
        (&p[..], &n[..])
    };
    glob(p, n)
}

/// A run of wildcards matches what its widest member matches: `*` if it
/// holds one, else `%`. Collapsing runs makes a 64 KiB pattern of
/// wildcards one character long.
fn collapse_wildcards(p: &[char]) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(p.len().min(256));
    for &c in p {
        match (out.last_mut(), c) {
            (Some(last @ ('*' | '%')), '*' | '%') => {
                if c == '*' {
                    *last = '*';
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Dynamic programming over (pattern, name) positions: O(p·n), so a
/// hostile pattern of many wildcards cannot make it exponential; runs of
/// wildcards are collapsed first, and two rows are reused.
fn glob(p: &[char], n: &[char]) -> bool {
    let p = collapse_wildcards(p);
    // ok[j]: pattern prefix matches name prefix of length j.
    let mut ok = vec![false; n.len() + 1];
    let mut next = vec![false; n.len() + 1];
    ok[0] = true;
    for &pc in &p {
        next.fill(false);
        match pc {
            '*' => {
                let mut any = false;
                for j in 0..=n.len() {
                    any |= ok[j];
                    next[j] = any;
                }
            }
            '%' => {
                let mut any = false;
                for j in 0..=n.len() {
                    any |= ok[j];
                    next[j] = any;
                    if j < n.len() && n[j] == SEPARATOR {
                        any = false;
                    }
                }
            }
            c => {
                for j in 1..=n.len() {
                    next[j] = ok[j - 1] && n[j - 1] == c;
                }
            }
        }
        std::mem::swap(&mut ok, &mut next);
    }
    ok[n.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", "Archive/2024"));
        assert!(!matches("%", "Archive/2024"));
        assert!(matches("%", "Archive"));
        assert!(matches("Archive/%", "Archive/2024"));
        assert!(matches("inbox", "INBOX"));
        assert!(matches("Inbox/*", "INBOX/a"));
        assert!(!matches("Sent", "sent"));
        assert!(matches("A*b%d", "Axx/bcd"));
        assert_eq!(full_pattern("Archive", "%"), "Archive/%");
        assert_eq!(full_pattern("", "*"), "*");
        assert!(matches(&"%*".repeat(30_000), "a/b/c"));
        assert!(!matches(&"%".repeat(30_000), "a/b"));
        assert!(matches(&format!("{}x", "%*".repeat(30_000)), "a/x"));
    }
}
