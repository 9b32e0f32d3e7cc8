//! Small helpers: clocks, ids, RFC 3339, and the lenient (de)serializers of MLflow's JSON.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
///
/// ```
/// use mlflow_sdk::{Metric, now_ms};
/// let t = now_ms();
/// assert!(t > 1_600_000_000_000); // after September 2020
/// let m = Metric { timestamp: t, ..Metric::new("loss", 0.5, 1) };
/// assert_eq!(m.timestamp, t);
/// ```
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Nanoseconds since the Unix epoch.
///
/// ```
/// use mlflow_sdk::{now_ms, now_ns, rfc3339_from_ns};
/// let before = now_ms();
/// let ns = now_ns();
/// assert!(ns / 1_000_000 >= before as u64);
/// assert!(rfc3339_from_ns(ns).ends_with('Z'));
/// ```
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A uniform random number in [0, 1).
pub(crate) fn random_unit() -> f64 {
    let b = uuid::Uuid::new_v4().as_u64_pair().0;
    (b >> 11) as f64 / (1u64 << 53) as f64
}

/// A per-thread pseudo-random `u64` (xorshift64*, seeded once per thread from the OS RNG), so
/// span ids cost no syscall. Ids need uniqueness, not secrecy (OTel SDKs do the same).
fn fast_random_u64() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(uuid::Uuid::new_v4().as_u64_pair().0 | 1);
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// 16 random bytes (an OTel trace id).
pub(crate) fn random_trace_id() -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&fast_random_u64().to_be_bytes());
    b[8..].copy_from_slice(&fast_random_u64().to_be_bytes());
    b
}

/// 8 random non-zero bytes (an OTel span id).
pub(crate) fn random_span_id() -> [u8; 8] {
    loop {
        let b = fast_random_u64().to_be_bytes();
        if b != [0; 8] {
            return b;
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// Formats epoch nanoseconds as RFC 3339 UTC with millisecond precision (protobuf `Timestamp` JSON).
///
/// ```
/// use mlflow_sdk::rfc3339_from_ns;
/// assert_eq!(rfc3339_from_ns(0), "1970-01-01T00:00:00.000Z");
/// assert_eq!(rfc3339_from_ns(1_763_825_329_681_000_000), "2025-11-22T15:28:49.681Z");
/// ```
pub fn rfc3339_from_ns(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let millis = (ns / 1_000_000) % 1000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mut y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    if m <= 2 {
        y += 1;
    }
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Parses an RFC 3339 UTC timestamp (`2026-11-22T15:28:49.681Z`, offsets `+00:00` too) to epoch ms.
///
/// ```
/// use mlflow_sdk::rfc3339_to_ms;
/// assert_eq!(rfc3339_to_ms("2025-11-22T15:28:49.681Z"), Some(1_763_825_329_681));
/// assert_eq!(rfc3339_to_ms("2025-11-22T15:28:49.681+00:00"), Some(1_763_825_329_681));
/// assert_eq!(rfc3339_to_ms("yesterday"), None);
/// ```
pub fn rfc3339_to_ms(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: i64 = dp.next()?.parse().ok()?;
    let d: i64 = dp.next()?.parse().ok()?;
    let time = time.trim_end_matches('Z');
    let time = time.split(['+']).next()?;
    let mut tp = time.split(':');
    let hh: i64 = tp.next()?.parse().ok()?;
    let mm: i64 = tp.next()?.parse().ok()?;
    let sec: f64 = tp.next()?.parse().ok()?;
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60) * 1000 + (sec * 1000.0).round() as i64)
}

/// Serializes an `f64` as MLflow does: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub(crate) fn ser_f64<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_nan() {
        s.serialize_str("NaN")
    } else if v.is_infinite() {
        s.serialize_str(if *v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        s.serialize_f64(*v)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    I(i64),
    F(f64),
    S(String),
    B(bool),
}

/// Accepts a number or a numeric string (`"NaN"`, `"Infinity"` included); null/absent → 0.
pub(crate) fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(match Option::<NumOrStr>::deserialize(d)? {
        None => 0.0,
        Some(NumOrStr::I(i)) => i as f64,
        Some(NumOrStr::F(f)) => f,
        Some(NumOrStr::B(b)) => b as i64 as f64,
        Some(NumOrStr::S(s)) => match s.as_str() {
            "NaN" | "nan" => f64::NAN,
            "Infinity" | "inf" => f64::INFINITY,
            "-Infinity" | "-inf" => f64::NEG_INFINITY,
            other => other.parse().map_err(serde::de::Error::custom)?,
        },
    })
}

/// Accepts an int64 as a number or a string; null/absent → `None`.
pub(crate) fn de_i64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<NumOrStr>::deserialize(d)? {
        None => None,
        Some(NumOrStr::I(i)) => Some(i),
        Some(NumOrStr::F(f)) => Some(f as i64),
        Some(NumOrStr::B(b)) => Some(b as i64),
        Some(NumOrStr::S(s)) => Some(s.parse().map_err(serde::de::Error::custom)?),
    })
}

/// Accepts an int64 as a number or a string; null/absent → 0.
pub(crate) fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(de_i64_opt(d)?.unwrap_or(0))
}

/// Accepts a string or a number as a string (model versions are `"1"` but some servers send 1).
pub(crate) fn de_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<NumOrStr>::deserialize(d)? {
        None => String::new(),
        Some(NumOrStr::I(i)) => i.to_string(),
        Some(NumOrStr::F(f)) => f.to_string(),
        Some(NumOrStr::B(b)) => b.to_string(),
        Some(NumOrStr::S(s)) => s,
    })
}

/// Git metadata of the repository around the current directory, as the official client
/// records it on runs and traces: `mlflow.source.git.commit`, `mlflow.source.git.branch`,
/// `mlflow.source.git.repoURL` (credentials stripped). Read once from the `.git` files (no git
/// binary); empty outside a repository.
///
/// ```
/// for (key, value) in mlflow_sdk::git_metadata() {
///     assert!(key.starts_with("mlflow.source.git."));
///     assert!(!value.is_empty());
/// }
/// ```
pub fn git_metadata() -> &'static [(&'static str, String)] {
    static GIT: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();
    GIT.get_or_init(|| {
        std::env::current_dir()
            .ok()
            .and_then(|d| read_git(&d))
            .unwrap_or_default()
    })
}

fn read_git(start: &std::path::Path) -> Option<Vec<(&'static str, String)>> {
    use std::path::PathBuf;
    // The git dir: `.git` as a directory, or a `.git` file pointing at it (worktrees).
    let mut dir = Some(start);
    let git_dir: PathBuf = loop {
        let d = dir?;
        let dot = d.join(".git");
        if dot.is_dir() {
            break dot;
        }
        if let Ok(text) = std::fs::read_to_string(&dot)
            && let Some(p) = text.trim().strip_prefix("gitdir:")
        {
            let p = PathBuf::from(p.trim());
            break if p.is_absolute() { p } else { d.join(p) };
        }
        dir = d.parent();
    };
    // Refs and config live in the common dir (differs from the git dir in a worktree).
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|| git_dir.clone());
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let (commit, branch) = match head.strip_prefix("ref:") {
        Some(r) => {
            let r = r.trim();
            let sha = std::fs::read_to_string(git_dir.join(r))
                .or_else(|_| std::fs::read_to_string(common.join(r)))
                .ok()
                .map(|s| s.trim().to_string())
                .or_else(|| {
                    let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
                    packed.lines().find_map(|l| {
                        let (sha, name) = l.split_once(' ')?;
                        (name.trim() == r).then(|| sha.to_string())
                    })
                });
            (sha, r.strip_prefix("refs/heads/").map(str::to_string))
        }
        None => (Some(head.to_string()), None),
    };
    let url = std::fs::read_to_string(common.join("config"))
        .ok()
        .and_then(|cfg| {
            let mut in_remote = false;
            for line in cfg.lines() {
                let l = line.trim();
                if l.starts_with('[') {
                    in_remote = l.starts_with("[remote ");
                } else if in_remote
                    && let Some((k, v)) = l.split_once('=')
                    && k.trim() == "url"
                {
                    return Some(strip_credentials(v.trim()));
                }
            }
            None
        });
    let mut out = Vec::new();
    if let Some(c) = commit.filter(|c| c.len() >= 40) {
        out.push(("mlflow.source.git.commit", c));
    }
    if let Some(b) = branch {
        out.push(("mlflow.source.git.branch", b));
    }
    if let Some(u) = url {
        out.push(("mlflow.source.git.repoURL", u));
    }
    Some(out)
}

/// `https://user:token@host/x` → `https://host/x` (SSH-style remotes are kept as they are).
fn strip_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{host}{path}"),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_metadata_matches_git() {
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let Some(head) = git(&["rev-parse", "HEAD"]) else {
            eprintln!("SKIP: not in a git checkout");
            return;
        };
        let md: std::collections::HashMap<_, _> = git_metadata().iter().cloned().collect();
        assert_eq!(md.get("mlflow.source.git.commit"), Some(&head));
        if let Some(branch) = git(&["symbolic-ref", "--short", "HEAD"]) {
            assert_eq!(md.get("mlflow.source.git.branch"), Some(&branch));
        }
        if let Some(url) = git(&["config", "--get", "remote.origin.url"]) {
            assert_eq!(
                md.get("mlflow.source.git.repoURL"),
                Some(&strip_credentials(&url))
            );
        }
    }

    #[test]
    fn credentials_are_stripped() {
        assert_eq!(
            strip_credentials("https://user:tok@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(
            strip_credentials("https://github.com/o/r"),
            "https://github.com/o/r"
        );
        assert_eq!(
            strip_credentials("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
    }

    #[test]
    fn rfc3339_roundtrip() {
        let ns = 1_763_825_329_681_000_000u64;
        let s = rfc3339_from_ns(ns);
        assert_eq!(s, "2025-11-22T15:28:49.681Z");
        assert_eq!(rfc3339_to_ms(&s), Some(1_763_825_329_681));
        assert_eq!(rfc3339_from_ns(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_to_ms("2000-02-29T12:00:00Z"), Some(951_825_600_000));
    }

    #[test]
    fn ids_and_hex() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let ids: std::collections::HashSet<[u8; 8]> =
            (0..10_000).map(|_| random_span_id()).collect();
        assert_eq!(ids.len(), 10_000);
        let other = std::thread::spawn(random_trace_id).join().unwrap();
        assert_ne!(random_trace_id(), other);
    }
}
