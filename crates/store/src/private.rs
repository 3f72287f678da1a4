//! The store's files are private to the user the server runs as: the data
//! directory and blob directories 0700, the database (and so, as SQLite
//! gives them the database's mode, its `-wal` and `-shm`) and blob files
//! 0600, whatever the process umask. Mail and password hashes are not for
//! other local users to read.
//!
//! A data directory or database found with group or other access (made by an
//! older version, or by hand) is tightened when the store opens, with a
//! warning; the data directory's own mode is what guards the files below it,
//! so blob files already there are left as they are.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of the directories the store makes.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of the files the store makes.
pub(crate) const FILE_MODE: u32 = 0o600;

/// `fs::create_dir_all`, each directory made with [`DIR_MODE`].
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Makes a file that someone else created (SQLite's `VACUUM INTO`) private.
pub(crate) fn restrict_file(path: &Path) -> io::Result<()> {
    tighten(path, FILE_MODE)
}

/// Creates (truncating) a file with [`FILE_MODE`] for writing.
pub(crate) fn create_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options.open(path)
}

/// Prepares the data directory and the database file before SQLite opens
/// it: both are made private, or tightened when found loose.
pub(crate) fn prepare_data_dir(data_dir: &Path, db_path: &Path) -> io::Result<()> {
    create_dir_all(data_dir)?;
    tighten(data_dir, DIR_MODE)?;
    if !db_path.exists() {
        // SQLite would create it with 0644 less the umask.
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
        options.open(db_path)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db_path.as_os_str().to_owned();
        name.push(suffix);
        let path = Path::new(&name);
        if path.exists() {
            tighten(path, FILE_MODE)?;
        }
    }
    Ok(())
}

/// Sets `path`'s mode to `mode` if it gives group or other any access.
#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = fs::metadata(path)?.permissions().mode() & 0o777;
    if current & 0o077 != 0 {
        match fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
            Ok(()) => tracing::warn!(
                "{} was open to other users (mode {current:o}); made it {mode:o}",
                path.display()
            ),
            // Not the owner: say so, but the store still opens.
            Err(e) => tracing::warn!(
                "{} is open to other users (mode {current:o}) and cannot be made {mode:o}: {e}",
                path.display()
            ),
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_are_private_and_loose_ones_are_tightened() {
        let t = tempfile::tempdir().unwrap();
        let data = t.path().join("a/b");
        let db = data.join("x.db");
        prepare_data_dir(&data, &db).unwrap();
        assert_eq!(mode(&t.path().join("a")), 0o700);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&db), 0o600);
        drop(create_file(&data.join("f")).unwrap());
        assert_eq!(mode(&data.join("f")), 0o600);

        fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(data.join("x.db-wal"), b"").unwrap();
        fs::set_permissions(data.join("x.db-wal"), fs::Permissions::from_mode(0o664)).unwrap();
        prepare_data_dir(&data, &db).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&data.join("x.db-wal")), 0o600);
    }
}
