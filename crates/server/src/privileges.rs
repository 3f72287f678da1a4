//! Dropping root: `serve` started as root binds its ports and reads its
//! TLS files first, then gives the data dir to the configured `user` and
//! becomes that user (and its group, with no supplementary groups) for
//! good, before it opens the store or starts a thread.
//!
//! The switch is `setresgid`/`setgroups`/`setresuid` on the calling thread
//! (Linux keeps credentials per thread), so it is done while the process
//! has exactly one thread, which is checked: a process whose other threads
//! stayed root would defeat the point. Once the saved user id is no longer
//! 0 the kernel also clears every capability, so there is no way back.

use std::fs;
use std::path::Path;

use anyhow::{Context, bail};

/// A user to run as, from `/etc/passwd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Whether the process runs as root (real or effective user id 0).
pub fn is_root() -> bool {
    rustix::process::getuid().is_root() || rustix::process::geteuid().is_root()
}

/// Looks `name` up in the passwd file text (`name:x:uid:gid:...`).
pub fn find_user(passwd: &str, name: &str) -> Option<User> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(User {
            name: name.to_string(),
            uid,
            gid,
        })
    })
}

/// The user named `name` in `/etc/passwd`.
pub fn lookup(name: &str) -> anyhow::Result<User> {
    let passwd = fs::read_to_string("/etc/passwd").context("cannot read /etc/passwd")?;
    let user = find_user(&passwd, name)
        .with_context(|| format!("user {name:?} (config `user`) is not in /etc/passwd"))?;
    if user.uid == 0 {
        bail!("user {name:?} (config `user`) is root; name an unprivileged user");
    }
    Ok(user)
}

/// Makes `user` own `dir` and everything in it (symbolic links themselves,
/// never what they point to).
pub fn give(dir: &Path, user: &User) -> anyhow::Result<()> {
    std::os::unix::fs::lchown(dir, Some(user.uid), Some(user.gid))
        .with_context(|| format!("cannot give {} to {}", dir.display(), user.name))?;
    let meta = fs::symlink_metadata(dir)?;
    if meta.is_dir() {
        for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            give(&entry?.path(), user)?;
        }
    }
    Ok(())
}

/// The number of threads of this process (`Threads:` of
/// `/proc/self/status`).
fn threads() -> anyhow::Result<u64> {
    let status =
        fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .context("no Threads: line in /proc/self/status")
}

/// Becomes `user` for good: group, supplementary groups, then user (real,
/// effective and saved). Refuses unless the process has one thread.
pub fn become_user(user: &User) -> anyhow::Result<()> {
    let n = threads()?;
    if n != 1 {
        bail!("cannot drop privileges: the process already has {n} threads");
    }
    use rustix::process::{Gid, Uid};
    let gid = Gid::from_raw(user.gid);
    let uid = Uid::from_raw(user.uid);
    rustix::thread::set_thread_groups(&[gid]).context("setgroups")?;
    rustix::thread::set_thread_res_gid(gid, gid, gid).context("setresgid")?;
    rustix::thread::set_thread_res_uid(uid, uid, uid).context("setresuid")?;
    // A switch that did not happen must not go unnoticed.
    if rustix::process::geteuid().as_raw() != user.uid
        || rustix::process::getuid().as_raw() != user.uid
        || rustix::process::getegid().as_raw() != user.gid
    {
        bail!("the switch to user {} did not take", user.name);
    }
    Ok(())
}

/// Checks that the data dir works for the new user: it can make and remove
/// a file there (a parent directory it cannot enter fails here, not at the
/// first delivery).
pub fn check_data_dir(dir: &Path, user: &User) -> anyhow::Result<()> {
    let probe = dir.join(".tidings-write-check");
    fs::write(&probe, b"").with_context(|| {
        format!(
            "user {} cannot write to the data dir {} (can it enter every parent directory?)",
            user.name,
            dir.display()
        )
    })?;
    fs::remove_file(&probe).ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                      broken:x:abc:1::/:/bin/sh\n";
        assert_eq!(
            find_user(passwd, "nobody"),
            Some(User {
                name: "nobody".into(),
                uid: 65534,
                gid: 65534
            })
        );
        assert_eq!(find_user(passwd, "nob"), None);
        assert_eq!(find_user(passwd, "broken"), None);
        assert_eq!(find_user(passwd, "root").map(|u| u.uid), Some(0));
    }
}
