//! Hidden tests: files the instructor keeps from students (a git repository and ref, or an
//! uploaded `.tar.gz`), put into a copy of the student's checkout for a second run after the
//! visible one — so nothing the student's code does in the visible run can read them, and
//! the student's files cannot replace them (whatever stood at their path is removed first).
//!
//! The tree is identified by a digest over its paths and contents, the same whichever source
//! it came from: a grade's receipt names it.

use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use sha2::Digest as _;

use crate::db::models::Assignment;

/// Largest archive accepted (compressed), as the database allows.
pub const MAX_ARCHIVE: usize = 16 * 1024 * 1024;
/// Largest hidden test tree (uncompressed).
const MAX_TREE_BYTES: u64 = 64 * 1024 * 1024;
/// Most files in a hidden test tree.
const MAX_TREE_FILES: usize = 10_000;

/// Where an assignment's hidden tests come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Git {
        url: String,
        reference: String,
    },
    /// The archive uploaded for the assignment (read from the database when needed).
    Archive,
}

impl Source {
    /// The assignment's hidden tests, when it has any.
    pub fn of(assignment: &Assignment) -> Option<Self> {
        if assignment.hidden_tests_uploaded {
            return Some(Self::Archive);
        }
        assignment.hidden_tests_repo.as_ref().map(|url| Self::Git {
            url: url.clone(),
            reference: assignment
                .hidden_tests_ref
                .clone()
                .unwrap_or_else(|| "HEAD".into()),
        })
    }
}

/// Unpacks a gzipped tar into `dest` (created): regular files and directories only, every
/// path relative and inside, within the size and file limits. Returns the number of files.
pub fn unpack(archive: &[u8], dest: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(dest).map_err(|e| format!("cannot unpack the hidden tests: {e}"))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let entries = tar
        .entries()
        .map_err(|e| format!("the archive is not a gzipped tar: {e}"))?;
    let (mut files, mut bytes) = (0usize, 0u64);
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("the archive is not a gzipped tar: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("an entry's name cannot be read: {e}"))?
            .into_owned();
        let relative = inside(&path)
            .ok_or_else(|| format!("{} points outside the archive", path.display()))?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&relative);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                files += 1;
                bytes += entry.size();
                if files > MAX_TREE_FILES || bytes > MAX_TREE_BYTES {
                    return Err(format!(
                        "the hidden tests are larger than {} files or {} MB",
                        MAX_TREE_FILES,
                        MAX_TREE_BYTES / 1024 / 1024
                    ));
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                let mut data = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
                entry
                    .read_to_end(&mut data)
                    .map_err(|e| format!("{} cannot be read: {e}", relative.display()))?;
                std::fs::write(&target, data).map_err(|e| e.to_string())?;
                let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
                set_executable(&target, executable).map_err(|e| e.to_string())?;
            }
            // Links and devices have no place among test files.
            _ => {}
        }
    }
    if files == 0 {
        return Err("the archive holds no files".into());
    }
    Ok(files)
}

/// `path` as a plain relative path (no root, no `..`), `.` parts dropped.
fn inside(path: &Path) -> Option<PathBuf> {
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(clean)
}

fn set_executable(path: &Path, executable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// The digest of the tree at `root`: SHA-256 over each regular file's path, executable bit
/// and contents, in path order (symbolic links and empty directories do not count).
pub fn digest(root: &Path) -> std::io::Result<String> {
    let mut files = Vec::new();
    collect(root, root, &mut files)?;
    files.sort();
    let mut hash = sha2::Sha256::new();
    for relative in files {
        let path = root.join(&relative);
        let executable = {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::metadata(&path)?.permissions().mode() & 0o111 != 0
        };
        let data = std::fs::read(&path)?;
        hash.update(relative.as_bytes());
        hash.update([0, u8::from(executable)]);
        hash.update((data.len() as u64).to_be_bytes());
        hash.update(&data);
    }
    Ok(hex::encode(hash.finalize()))
}

/// Relative paths (with `/`) of the regular files under `dir`.
fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            collect(root, &path, out)?;
        } else if kind.is_file()
            && let Ok(relative) = path.strip_prefix(root)
        {
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// The regular files under `root`, by relative path.
pub fn files(root: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    collect(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

/// Copies `from` into `to` (created): directories, regular files with their executable bit,
/// and symbolic links as links (never followed).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Makes `checkout/relative` the hidden tests: every part of the path on the way is made a
/// real directory (a student's symbolic link or file there is removed, so nothing is
/// written outside the checkout), whatever stood at the path itself is removed, and the
/// tree at `tests` is copied in.
pub fn overlay(checkout: &Path, relative: &str, tests: &Path) -> std::io::Result<()> {
    let relative = inside(Path::new(relative)).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the hidden tests' path must stay inside the checkout",
        )
    })?;
    let mut at = checkout.to_path_buf();
    let parts: Vec<_> = relative.components().collect();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let last = i + 1 == parts.len();
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if last && meta.is_dir() => std::fs::remove_dir_all(&at)?,
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => std::fs::remove_file(&at)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if !last {
            std::fs::create_dir_all(&at)?;
        }
    }
    copy_tree(tests, &at)
}

/// Whether `path` (relative, with `/`) falls under one of `patterns`: a pattern matches the
/// path itself (`*` any text, `?` one character) or names a directory above it.
pub fn protected(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|pattern| {
        let pattern = pattern.trim_end_matches('/');
        crate::grading::points::glob(pattern, path)
            || path
                .strip_prefix(pattern)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// The protected files that differ between the `starter` tree and the `checkout`: changed,
/// added or removed, in path order.
pub fn protected_edits(
    patterns: &[String],
    starter: &Path,
    checkout: &Path,
) -> std::io::Result<Vec<String>> {
    let mut paths: Vec<String> = files(starter)?
        .into_iter()
        .chain(files(checkout)?)
        .filter(|p| protected(patterns, p))
        .collect();
    paths.sort();
    paths.dedup();
    let read = |root: &Path, path: &str| -> Option<Vec<u8>> {
        let full = root.join(path);
        let meta = std::fs::symlink_metadata(&full).ok()?;
        meta.is_file().then(|| std::fs::read(&full).ok()).flatten()
    };
    Ok(paths
        .into_iter()
        .filter(|path| read(starter, path) != read(checkout, path))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, data, mode) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            header.set_entry_type(tar::EntryType::Regular);
            // Written raw, so a hostile name reaches the reader as it is.
            let name = header.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            tar.append(&header, *data).expect("append");
        }
        tar.into_inner().expect("tar").finish().expect("gzip")
    }

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    #[test]
    fn an_archive_unpacks_with_its_executable_bits_and_the_same_digest_as_its_tree() {
        let archive = tar_gz(&[
            ("tests/test_hidden.py", b"def test_x(): pass\n", 0o644),
            ("./run.sh", b"#!/bin/sh\n", 0o755),
        ]);
        let dir = temp();
        let dest = dir.path().join("hidden");
        assert_eq!(unpack(&archive, &dest), Ok(2));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &str| {
            std::fs::metadata(dest.join(p))
                .expect("unpacked")
                .permissions()
                .mode()
        };
        assert_ne!(mode("run.sh") & 0o100, 0);
        assert_eq!(mode("tests/test_hidden.py") & 0o111, 0);
        // The same files copied elsewhere have the same digest; a changed byte does not.
        let copy = dir.path().join("copy");
        copy_tree(&dest, &copy).expect("copy");
        assert_eq!(
            digest(&dest).expect("digest"),
            digest(&copy).expect("digest")
        );
        std::fs::write(copy.join("run.sh"), "#!/bin/sh \n").expect("write");
        assert_ne!(
            digest(&dest).expect("digest"),
            digest(&copy).expect("digest")
        );
    }

    #[test]
    fn archives_that_reach_outside_or_hold_nothing_are_refused() {
        let dir = temp();
        let escaping = tar_gz(&[("../evil.py", b"x", 0o644)]);
        assert!(
            unpack(&escaping, &dir.path().join("a"))
                .expect_err("refused")
                .contains("outside")
        );
        assert!(!dir.path().join("evil.py").exists());
        let absolute = tar_gz(&[("/tmp/evil.py", b"x", 0o644)]);
        assert!(unpack(&absolute, &dir.path().join("b")).is_err());
        assert!(
            unpack(b"not gzip at all", &dir.path().join("c"))
                .expect_err("refused")
                .contains("gzipped tar")
        );
        let empty = tar_gz(&[]);
        assert_eq!(
            unpack(&empty, &dir.path().join("d")),
            Err("the archive holds no files".into())
        );
    }

    #[test]
    fn the_overlay_replaces_what_the_student_put_there_and_never_writes_through_a_link() {
        let dir = temp();
        let (checkout, tests, outside) = (
            dir.path().join("checkout"),
            dir.path().join("tests"),
            dir.path().join("outside"),
        );
        for d in [&checkout, &tests, &outside] {
            std::fs::create_dir_all(d).expect("dir");
        }
        std::fs::write(tests.join("test_secret.py"), "real").expect("write");
        // The student left a fake test at the path, and a link from a parent to outside.
        std::fs::create_dir_all(checkout.join("grading/hidden")).expect("dir");
        std::fs::write(checkout.join("grading/hidden/test_secret.py"), "fake").expect("w");
        std::fs::write(checkout.join("grading/hidden/extra.py"), "fake").expect("w");
        overlay(&checkout, "grading/hidden", &tests).expect("overlay");
        assert_eq!(
            std::fs::read_to_string(checkout.join("grading/hidden/test_secret.py")).expect("read"),
            "real"
        );
        assert!(!checkout.join("grading/hidden/extra.py").exists());

        std::os::unix::fs::symlink(&outside, checkout.join("linked")).expect("link");
        overlay(&checkout, "linked/hidden", &tests).expect("overlay");
        assert!(checkout.join("linked/hidden/test_secret.py").is_file());
        assert!(
            std::fs::read_dir(&outside).expect("read").next().is_none(),
            "nothing was written through the student's link"
        );
        assert!(overlay(&checkout, "../escape", &tests).is_err());
    }

    #[test]
    fn protected_paths_match_files_and_directories() {
        let patterns = vec!["tests/".to_owned(), "*.cfg".to_owned()];
        assert!(protected(&patterns, "tests/test_a.py"));
        assert!(protected(&patterns, "tests/deep/b.py"));
        assert!(protected(&patterns, "setup.cfg"));
        assert!(!protected(&patterns, "tests_mine/a.py"));
        assert!(!protected(&patterns, "src/main.py"));
    }

    #[test]
    fn edits_to_protected_files_are_found_changed_added_and_removed() {
        let dir = temp();
        let (starter, checkout) = (dir.path().join("s"), dir.path().join("c"));
        for root in [&starter, &checkout] {
            std::fs::create_dir_all(root.join("tests")).expect("dir");
            std::fs::write(root.join("tests/test_same.py"), "same").expect("w");
            std::fs::write(root.join("main.py"), "mine").expect("w");
        }
        std::fs::write(starter.join("tests/test_changed.py"), "before").expect("w");
        std::fs::write(checkout.join("tests/test_changed.py"), "after").expect("w");
        std::fs::write(starter.join("tests/test_removed.py"), "x").expect("w");
        std::fs::write(checkout.join("tests/test_added.py"), "x").expect("w");
        std::fs::write(checkout.join("main.py"), "changed, but not protected").expect("w");
        let edits = protected_edits(&["tests".to_owned()], &starter, &checkout).expect("compared");
        assert_eq!(
            edits,
            vec![
                "tests/test_added.py",
                "tests/test_changed.py",
                "tests/test_removed.py"
            ]
        );
    }
}
