//! Memory of a server's whole process tree, read from `/proc`.
//!
//! A tree is every process whose process group is the server's (each server is started as the
//! leader of its own group) plus every descendant of the leader that moved to another group.

use std::collections::HashMap;
use std::fs;

/// Resident memory of one process tree, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeMem {
    pub processes: usize,
    pub rss_kib: u64,
    /// Proportional set size (shared pages split between the sharers); `None` when
    /// `smaps_rollup` is not readable.
    pub pss_kib: Option<u64>,
}

/// `(pid, ppid, pgrp)` of every live process.
fn all_processes() -> Vec<(i32, i32, i32)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // The process may have exited since the listing: skip it then.
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let mut fields = stat[close + 1..].split_whitespace();
        let _state = fields.next();
        let ppid = fields.next().and_then(|s| s.parse::<i32>().ok());
        let pgrp = fields.next().and_then(|s| s.parse::<i32>().ok());
        if let (Some(ppid), Some(pgrp)) = (ppid, pgrp) {
            out.push((pid, ppid, pgrp));
        }
    }
    out
}

/// Pids of the tree rooted at `leader` (see the module doc).
pub fn tree_pids(leader: i32) -> Vec<i32> {
    let procs = all_processes();
    let parent: HashMap<i32, i32> = procs.iter().map(|&(p, pp, _)| (p, pp)).collect();
    procs
        .iter()
        .filter(|&&(pid, _, pgrp)| {
            if pgrp == leader || pid == leader {
                return true;
            }
            // Walk up; bounded in case of a (transient) cycle in a racy read.
            let mut cur = pid;
            for _ in 0..64 {
                match parent.get(&cur) {
                    Some(&pp) if pp == leader => return true,
                    Some(&pp) if pp > 1 => cur = pp,
                    _ => return false,
                }
            }
            false
        })
        .map(|&(pid, _, _)| pid)
        .collect()
}

/// Pids still in process group `pgid`.
pub fn group_pids(pgid: i32) -> Vec<i32> {
    all_processes()
        .into_iter()
        .filter(|&(_, _, g)| g == pgid)
        .map(|(p, _, _)| p)
        .collect()
}

fn kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Sum of VmRSS over the tree (cheap enough to sample a few times a second).
pub fn tree_rss(leader: i32) -> TreeMem {
    let mut mem = TreeMem::default();
    for pid in tree_pids(leader) {
        if let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kib) = kib_field(&status, "VmRSS:")
        {
            mem.processes += 1;
            mem.rss_kib += kib;
        }
    }
    mem
}

/// RSS and PSS of the tree (PSS walks page tables: use it for one-off readings).
pub fn tree_rss_pss(leader: i32) -> TreeMem {
    let mut mem = TreeMem {
        pss_kib: Some(0),
        ..TreeMem::default()
    };
    for pid in tree_pids(leader) {
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let Some(rss) = kib_field(&status, "VmRSS:") else {
            continue; // kernel thread or zombie
        };
        mem.processes += 1;
        mem.rss_kib += rss;
        let pss = fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .ok()
            .and_then(|t| kib_field(&t, "Pss:"));
        mem.pss_kib = match (mem.pss_kib, pss) {
            (Some(total), Some(p)) => Some(total + p),
            _ => None,
        };
    }
    mem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id() as i32;
        let mem = tree_rss_pss(me);
        assert!(mem.processes >= 1);
        assert!(mem.rss_kib > 0);
    }

    #[test]
    fn parses_kib_fields() {
        let text = "Name:\tx\nVmRSS:\t  1234 kB\nPss: 99 kB\n";
        assert_eq!(kib_field(text, "VmRSS:"), Some(1234));
        assert_eq!(kib_field(text, "Pss:"), Some(99));
        assert_eq!(kib_field(text, "VmHWM:"), None);
    }
}
