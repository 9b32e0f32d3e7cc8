//! Artifact path validation, as the official `mlflow.utils.uri.validate_path_is_safe`, plus
//! a refusal of NUL bytes.
//!
//! A [`RelPath`] is a validated path relative to an artifact root: no `..` segment, not
//! absolute (POSIX or Windows), no `#`, no NUL, percent-encoding decoded until stable (so
//! `%2e%2e/` and `%252e%252e/` are caught), `.` and empty segments dropped. Symlink escapes
//! can only be checked against a real filesystem; [`crate::local::LocalRepo`] does that.

use mlflow_domain::Error;
use percent_encoding::percent_decode_str;

/// The official message for every refused path.
pub const INVALID_PATH: &str = "Invalid path";

fn invalid() -> Error {
    Error::invalid(INVALID_PATH)
}

/// A validated, normalised relative artifact path (`""` is the root).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RelPath(String);

/// Decodes percent-escapes until the string stops changing (at most 10 rounds), like
/// the official `_decode`.
fn decode_until_stable(path: &str) -> Result<String, Error> {
    let mut cur = path.to_string();
    for _ in 0..10 {
        let next = percent_decode_str(&cur).decode_utf8_lossy().into_owned();
        if next == cur {
            return Ok(cur);
        }
        cur = next;
    }
    Err(invalid())
}

/// Control characters other than NUL become `%xx`, exactly as the official server does.
fn escape_control_characters(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        let cp = c as u32;
        if cp <= 31 || cp == 127 {
            out.push_str(&format!("%{cp:02x}"));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_windows_absolute(path: &str) -> bool {
    let b = path.as_bytes();
    // `C:\x` / `C:/x` (a drive with a root); `C:x` is drive-relative, not absolute.
    let drive_root = b.len() >= 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b[2] == b'\\' || b[2] == b'/');
    // UNC: `\\server\share` (or with forward slashes).
    let unc = b.len() >= 2
        && (b[0] == b'\\' || b[0] == b'/')
        && (b[1] == b'\\' || b[1] == b'/')
        && path[2..]
            .split(['\\', '/'])
            .filter(|s| !s.is_empty())
            .count()
            >= 2;
    drive_root || unc
}

/// `file:` URIs are turned into their path part, as `local_file_uri_to_path`.
fn strip_file_scheme(path: &str) -> &str {
    let Some(prefix) = path.get(..5) else {
        return path;
    };
    if !prefix.eq_ignore_ascii_case("file:") {
        return path;
    }
    let rest = &path[5..];
    match rest.strip_prefix("//") {
        // file://netloc/path -> /path
        Some(after) => match after.find('/') {
            Some(i) => &after[i..],
            None => "",
        },
        None => rest,
    }
}

impl RelPath {
    /// The root of the repository.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Validates user input (`validate_path_is_safe`) and normalises it.
    pub fn parse(path: &str) -> Result<Self, Error> {
        if path.contains('\0') {
            return Err(invalid());
        }
        let decoded = decode_until_stable(path)?;
        if decoded.contains('\0') {
            return Err(invalid());
        }
        let escaped = escape_control_characters(&decoded);
        if escaped.contains('#') {
            return Err(invalid());
        }
        let p = strip_file_scheme(&escaped);
        if p.split('/').any(|s| s == "..") || p.starts_with('/') || is_windows_absolute(p) {
            return Err(invalid());
        }
        Ok(Self::from_clean_segments(p.split('/')))
    }

    fn from_clean_segments<'a>(segments: impl Iterator<Item = &'a str>) -> Self {
        let parts: Vec<&str> = segments.filter(|s| !s.is_empty() && *s != ".").collect();
        Self(parts.join("/"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The segments, root = none.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// The last segment (`""` for the root).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// Everything but the last segment.
    pub fn parent(&self) -> RelPath {
        match self.0.rsplit_once('/') {
            Some((head, _)) => Self(head.to_string()),
            None => Self::root(),
        }
    }

    /// `self/other` (both already validated).
    pub fn join(&self, other: &RelPath) -> RelPath {
        Self::from_clean_segments(self.segments().chain(other.segments()))
    }
}

impl std::fmt::Display for RelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlflow_domain::ErrorCode;

    fn refused(p: &str) {
        let e = RelPath::parse(p).expect_err(p);
        assert_eq!(e.code, ErrorCode::InvalidParameterValue, "{p}");
        assert_eq!(e.message, INVALID_PATH, "{p}");
    }

    #[test]
    fn dot_dot_refused() {
        refused("..");
        refused("../x");
        refused("a/../../x");
        refused("a/..");
    }

    #[test]
    fn absolute_refused() {
        refused("/etc/passwd");
        refused("//etc/passwd");
        refused("C:\\Windows");
        refused("c:/windows");
        refused("\\\\server\\share\\x");
        refused("file:///etc/passwd");
        refused("file://host/etc/passwd");
    }

    #[test]
    fn percent_encoded_traversal_refused() {
        refused("%2e%2e/x");
        refused("%2E%2E%2Fetc");
        refused("%252e%252e/x");
        refused("a/%2e%2e/%2e%2e/x");
        refused("%2Fetc%2Fpasswd");
        refused("%23frag");
    }

    #[test]
    fn nul_refused() {
        refused("a\0b");
        refused("a%00b");
        refused("a%2500b");
    }

    #[test]
    fn hash_refused() {
        refused("a#b");
    }

    #[test]
    fn normal_paths_normalised() {
        assert_eq!(RelPath::parse("a/b/c.txt").unwrap().as_str(), "a/b/c.txt");
        assert_eq!(RelPath::parse("a//./b/").unwrap().as_str(), "a/b");
        assert_eq!(RelPath::parse("").unwrap().as_str(), "");
        assert_eq!(RelPath::parse("a%20b").unwrap().as_str(), "a b");
        assert_eq!(RelPath::parse("..a/b..").unwrap().as_str(), "..a/b..");
        assert_eq!(RelPath::parse("file:x/y").unwrap().as_str(), "x/y");
        // Control characters are escaped (not refused), as the official server does.
        assert_eq!(RelPath::parse("a\nb").unwrap().as_str(), "a%0ab");
        // C:x is drive-relative on Windows, so not absolute.
        assert_eq!(RelPath::parse("C:x").unwrap().as_str(), "C:x");
    }

    #[test]
    fn parts() {
        let p = RelPath::parse("a/b/c.txt").unwrap();
        assert_eq!(p.file_name(), "c.txt");
        assert_eq!(p.parent().as_str(), "a/b");
        assert_eq!(RelPath::parse("c").unwrap().parent(), RelPath::root());
        assert_eq!(
            p.parent().join(&RelPath::parse("d").unwrap()).as_str(),
            "a/b/d"
        );
        assert_eq!(RelPath::root().join(&p), p);
    }
}
