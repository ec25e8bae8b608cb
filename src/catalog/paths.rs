//! Paths on the server's disk named by a statement (`COPY ... TO 'file'`,
//! `CREATE EXTERNAL TABLE ... LOCATION`): never inside the data directory.
//!
//! The data directory is the server's own: a `COPY ... TO` one of its
//! Parquet files replaced 300,000 committed rows with one, and an external
//! table over it would read files the server may delete or rewrite. The
//! path is resolved first (made absolute, `.` and `..` removed, every
//! existing component's symlinks followed), so no spelling of a path inside
//! the directory gets through.

use std::path::{Component, Path, PathBuf};

use crate::error::{Result, SqlStateError, sqlstate};

/// `location` as the file system will see it: absolute, symlinks of its
/// existing part resolved, `.`/`..` of the rest applied. `None` for a URL
/// that is not a local file (`s3://...`).
pub fn resolve(location: &str) -> Option<PathBuf> {
    let path = match location.split_once("://") {
        Some(("file", rest)) => Path::new(rest).to_path_buf(),
        Some(_) => return None,
        None => PathBuf::from(location),
    };
    let absolute = if path.is_absolute() {
        path
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    // The longest prefix that exists, canonicalized (symlinks followed),
    // then the rest, which cannot hold a symlink since it does not exist.
    let mut existing = absolute.clone();
    let mut rest = Vec::new();
    let base = loop {
        if let Ok(canonical) = existing.canonicalize() {
            break canonical;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            // `..` as the last component has no file_name: apply lexically.
            _ => break lexical(&absolute),
        }
    };
    let mut resolved = base;
    for part in rest.iter().rev() {
        match Path::new(part).components().next() {
            Some(Component::ParentDir) => {
                resolved.pop();
            }
            Some(Component::CurDir) | None => {}
            _ => resolved.push(part),
        }
    }
    Some(lexical(&resolved))
}

/// `.` and `..` removed without touching the disk.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Refuses (42501) a `what` at `location` inside `data_dir` (canonical).
pub fn outside_data_dir(data_dir: &Path, location: &str, what: &str) -> Result<()> {
    let Some(resolved) = resolve(location) else {
        return Ok(());
    };
    if resolved.starts_with(data_dir) {
        return Err(SqlStateError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!(
                "{what} '{location}' is inside the data directory {}, which belongs to the server",
                data_dir.display()
            ),
        )
        .with_hint("name a path outside the data directory"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_path_inside_is_refused() {
        let root = tempfile::tempdir().expect("dir");
        let data = root.path().join("data");
        std::fs::create_dir_all(data.join("tables/abc")).expect("dirs");
        let data = data.canonicalize().expect("canonical");
        let outside = root.path().canonicalize().expect("canonical");
        std::os::unix::fs::symlink(&data, outside.join("link")).expect("symlink");
        for inside in [
            data.join("tables/abc/part-0.parquet"),
            data.join("new/file.csv"),
            data.join("tables/../catalog.db"),
            outside.join("x/../data/tables/f.parquet"),
            outside.join("link/tables/f.parquet"),
            data.clone(),
        ] {
            let text = inside.to_string_lossy().to_string();
            let e = outside_data_dir(&data, &text, "COPY TO").expect_err(&text);
            assert_eq!(e.code, sqlstate::INSUFFICIENT_PRIVILEGE, "{text}");
            let url = format!("file://{text}");
            assert!(outside_data_dir(&data, &url, "COPY TO").is_err(), "{url}");
        }
        for fine in [
            outside.join("export.csv"),
            outside.join("data2/x.csv"),
            outside.join("data/../elsewhere.csv"),
        ] {
            let text = fine.to_string_lossy().to_string();
            assert!(outside_data_dir(&data, &text, "COPY TO").is_ok(), "{text}");
        }
        assert!(outside_data_dir(&data, "s3://bucket/data/x", "COPY TO").is_ok());
    }
}
