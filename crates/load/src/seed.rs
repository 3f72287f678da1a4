//! Seeding the same users and messages into Tidings and into Maildirs.

use std::path::Path;

use tidings_store::{Recipient, Store};
use tidings_types::{MailboxRole, Secret};

pub const DOMAIN: &str = "bench.test";
pub const PASSWORD: &str = "pw";

/// The messages: up to `count` from the corpus (CRLF line ends, as SMTP
/// would have delivered them), else synthetic 10 KB ones.
pub fn messages(count: usize, corpus: Option<&Path>) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    if let Some(dir) = corpus {
        collect(dir, &mut out, count)?;
    }
    let mut i = out.len();
    while out.len() < count {
        let mut m = format!(
            "From: sender{i}@example.net\r\nTo: someone@{DOMAIN}\r\nSubject: bench {i}\r\nMessage-ID: <{i}@bench>\r\n\r\n"
        )
        .into_bytes();
        while m.len() < 10 * 1024 {
            m.extend_from_slice(
                b"The quick brown fox jumps over the lazy dog again and again.\r\n",
            );
        }
        out.push(m);
        i += 1;
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<Vec<u8>>, count: usize) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if out.len() >= count {
            break;
        }
        if p.is_dir() {
            collect(&p, out, count)?;
        } else if p.extension().is_some_and(|x| x == "eml") {
            let raw = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            out.push(crlf(&raw));
        }
    }
    Ok(())
}

fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

pub fn tidings(
    dir: &Path,
    users: usize,
    count: usize,
    corpus: Option<&Path>,
) -> Result<(), String> {
    let msgs = messages(count, corpus)?;
    let store = Store::open(dir).map_err(|e| e.to_string())?;
    match store.add_domain(DOMAIN) {
        Ok(()) | Err(tidings_store::StoreError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.to_string()),
    }
    let mut recipients = Vec::new();
    for u in 0..users {
        let email = format!("u{u}@{DOMAIN}");
        let account = store
            .create_account(&email, &Secret::new(PASSWORD.to_string()))
            .map_err(|e| format!("{email}: {e}"))?;
        let inbox = store
            .mailbox_by_role(account, MailboxRole::Inbox)
            .map_err(|e| e.to_string())?
            .ok_or("no INBOX")?;
        recipients.push(Recipient {
            account,
            mailbox: inbox.id,
            keywords: Vec::new(),
        });
    }
    // One delivery per message to every user: one blob, as SMTP would store it.
    for m in &msgs {
        for r in store
            .deliver(m, None, &recipients)
            .map_err(|e| e.to_string())?
        {
            r.map_err(|e| e.to_string())?;
        }
    }
    store.close();
    println!(
        "seeded {users} users with {} messages each into {}",
        msgs.len(),
        dir.display()
    );
    Ok(())
}

/// An argon2id hash of the password with the parameters Tidings uses, in
/// the PHC form Dovecot's `{ARGON2ID}` scheme reads: both servers then pay
/// the same for a password check.
fn argon2_hash() -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    let hash = argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map_err(|e| e.to_string())?;
    Ok(format!("{{ARGON2ID}}{hash}"))
}

pub fn maildir(
    dir: &Path,
    users: usize,
    count: usize,
    corpus: Option<&Path>,
) -> Result<(), String> {
    let msgs = messages(count, corpus)?;
    let io = |e: std::io::Error| e.to_string();
    let mut passwd = String::new();
    for u in 0..users {
        let user = format!("u{u}@{DOMAIN}");
        let md = dir.join(format!("u{u}")).join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(sub)).map_err(io)?;
        }
        for (i, m) in msgs.iter().enumerate() {
            // Maildir stores LF line ends; Dovecot converts to CRLF when sending.
            let lf: Vec<u8> = m.iter().copied().filter(|&b| b != b'\r').collect();
            std::fs::write(md.join("new").join(format!("{i}.bench.{u}")), lf).map_err(io)?;
        }
        passwd.push_str(&format!("{user}:{{PLAIN}}{PASSWORD}::::::\n"));
    }
    std::fs::write(
        dir.join("passwd"),
        passwd.replace("{PLAIN}pw", &argon2_hash()?),
    )
    .map_err(io)?;
    println!(
        "seeded {users} Maildirs with {} messages each under {}",
        msgs.len(),
        dir.display()
    );
    Ok(())
}
