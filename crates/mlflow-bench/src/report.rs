//! The markdown report: context, the side-by-side table with ratios, notes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::procmem::TreeMem;
use crate::workloads::{Measure, Outcome, Sizes, Workload, thousands};

/// Everything measured on one server.
pub struct TargetReport {
    /// `mlflow-rs` or `official`.
    pub label: &'static str,
    /// How it was reached: the started command or the given URL.
    pub origin: String,
    pub version: String,
    pub startup_secs: Option<f64>,
    pub idle: Option<TreeMem>,
    pub peak_rss_kib: Option<u64>,
    pub results: BTreeMap<Workload, Result<Outcome, String>>,
}

pub struct Context {
    pub title_date: String,
    pub mode_name: &'static str,
    pub machine: String,
    pub backend: String,
    pub connection: String,
    pub sizes: Sizes,
    pub command: String,
}

/// Compact number: thousands separators from 1000 up, otherwise ~3 significant digits.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a >= 1000.0 {
        thousands(v)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn mb(kib: u64) -> String {
    thousands(kib as f64 / 1024.0)
}

/// `better / worse` as "12.3×"; how many times better mlflow-rs is.
fn ratio(x: f64) -> String {
    if !x.is_finite() || x <= 0.0 {
        return "n/a".to_string();
    }
    if x >= 100.0 {
        format!("{x:.0}×")
    } else {
        format!("{x:.1}×")
    }
}

fn cell(m: &Measure) -> String {
    match m {
        Measure::Rate { per_s, p50, p99 } => {
            format!("{} ({} / {})", num(*per_s), num(*p50), num(*p99))
        }
        Measure::Seconds { median, all } => {
            if all.len() > 1 {
                let lo = all.first().copied().unwrap_or(*median);
                let hi = all.last().copied().unwrap_or(*median);
                format!(
                    "{} s (median of {}; {}–{})",
                    num(*median),
                    all.len(),
                    num(lo),
                    num(hi)
                )
            } else {
                format!("{} s", num(*median))
            }
        }
        Measure::Latency { p50, p99 } => format!("{} / {}", num(*p50), num(*p99)),
    }
}

fn measure_ratio(ours: &Measure, off: &Measure) -> String {
    match (ours, off) {
        (
            Measure::Rate {
                per_s: a, p50: a50, ..
            },
            Measure::Rate {
                per_s: b, p50: b50, ..
            },
        ) => format!("{} (p50 {})", ratio(a / b), ratio(b50 / a50)),
        (Measure::Seconds { median: a, .. }, Measure::Seconds { median: b, .. }) => ratio(b / a),
        (Measure::Latency { p50: a, p99: a99 }, Measure::Latency { p50: b, p99: b99 }) => {
            format!("{} (p99 {})", ratio(b / a), ratio(b99 / a99))
        }
        _ => "n/a".to_string(),
    }
}

fn result_cell(t: Option<&TargetReport>, w: Workload) -> String {
    match t.map(|t| t.results.get(&w)) {
        None => "not run".to_string(),
        Some(None) => "—".to_string(),
        Some(Some(Ok(o))) => cell(&o.measure),
        Some(Some(Err(_))) => "**failed** (see notes)".to_string(),
    }
}

pub fn render(
    ctx: &Context,
    ours: Option<&TargetReport>,
    off: Option<&TargetReport>,
    extra_notes: &[String],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### mlflow-bench, {} run, {}\n",
        ctx.mode_name, ctx.title_date
    );
    let _ = writeln!(s, "- command: `{}`", ctx.command);
    let _ = writeln!(s, "- machine: {}", ctx.machine);
    let _ = writeln!(s, "- backend: {}", ctx.backend);
    let _ = writeln!(s, "- client: {}", ctx.connection);
    let _ = writeln!(s, "- sizes: {}", ctx.sizes.describe());
    let _ = writeln!(
        s,
        "- answers are checked (get-history point count; search_runs row count, filter and order against the generated data): a wrong answer is flagged in the notes"
    );
    for t in [ours, off].into_iter().flatten() {
        let startup = t
            .startup_secs
            .map(|x| format!(", healthy {x:.1} s after start"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "- {}: version {}, {}{startup}",
            t.label, t.version, t.origin
        );
    }
    let _ = writeln!(
        s,
        "- ratio: how many times better mlflow-rs is (throughput ours/official; time, latency and memory official/ours). >1 means mlflow-rs is better.\n"
    );
    let _ = writeln!(s, "| workload | mlflow-rs | official | ratio |");
    let _ = writeln!(s, "|---|---|---|---|");

    // Memory rows.
    let idle = |t: Option<&TargetReport>| -> String {
        match t.map(|t| t.idle) {
            None => "not run".to_string(),
            Some(None) => "n/a (not started by the bench)".to_string(),
            Some(Some(m)) => match m.pss_kib {
                Some(p) => format!("{} / {} MB ({} proc)", mb(m.rss_kib), mb(p), m.processes),
                None => format!("{} / ? MB ({} proc)", mb(m.rss_kib), m.processes),
            },
        }
    };
    let idle_ratio = match (ours.and_then(|t| t.idle), off.and_then(|t| t.idle)) {
        (Some(a), Some(b)) if a.rss_kib > 0 => ratio(b.rss_kib as f64 / a.rss_kib as f64),
        _ => "n/a".to_string(),
    };
    let _ = writeln!(
        s,
        "| idle RSS / PSS of the whole process tree | {} | {} | {idle_ratio} |",
        idle(ours),
        idle(off)
    );
    let peak = |t: Option<&TargetReport>| -> String {
        match t.map(|t| t.peak_rss_kib) {
            None => "not run".to_string(),
            Some(None) => "n/a".to_string(),
            Some(Some(k)) => format!("{} MB", mb(k)),
        }
    };
    let peak_ratio = match (
        ours.and_then(|t| t.peak_rss_kib),
        off.and_then(|t| t.peak_rss_kib),
    ) {
        (Some(a), Some(b)) if a > 0 => ratio(b as f64 / a as f64),
        _ => "n/a".to_string(),
    };
    let _ = writeln!(
        s,
        "| loaded RSS of the whole process tree (peak, sampled every 250 ms during the workloads) | {} | {} | {peak_ratio} |",
        peak(ours),
        peak(off)
    );

    let mut workloads: Vec<Workload> = [ours, off]
        .into_iter()
        .flatten()
        .flat_map(|t| t.results.keys().copied())
        .collect();
    workloads.sort();
    workloads.dedup();
    for w in &workloads {
        let r = match (
            ours.and_then(|t| t.results.get(w)),
            off.and_then(|t| t.results.get(w)),
        ) {
            (Some(Ok(a)), Some(Ok(b))) => measure_ratio(&a.measure, &b.measure),
            _ => "n/a".to_string(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {r} |",
            w.label(&ctx.sizes),
            result_cell(ours, *w),
            result_cell(off, *w)
        );
    }

    let mut notes = Vec::new();
    for t in [ours, off].into_iter().flatten() {
        for (w, r) in &t.results {
            match r {
                Ok(o) => {
                    for n in &o.notes {
                        notes.push(format!("{} {}: {n}", t.label, w.name()));
                    }
                }
                Err(e) => notes.push(format!(
                    "{} {}: FAILED: {}",
                    t.label,
                    w.name(),
                    e.replace('\n', " ")
                )),
            }
        }
    }
    notes.extend(extra_notes.iter().cloned());
    if !notes.is_empty() {
        let _ = writeln!(s, "\nNotes:");
        for n in notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock (civil-from-days, no date crate).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(3674.2), "3,674");
        assert_eq!(num(110.4), "110");
        assert_eq!(num(19.64), "19.6");
        assert_eq!(num(5.93), "5.93");
        assert_eq!(num(0.4123), "0.412");
        assert_eq!(ratio(12.345), "12.3×");
        assert_eq!(ratio(250.4), "250×");
        assert_eq!(ratio(f64::INFINITY), "n/a");
    }

    #[test]
    fn ratios_point_the_same_way() {
        let fast = Measure::Rate {
            per_s: 1000.0,
            p50: 1.0,
            p99: 2.0,
        };
        let slow = Measure::Rate {
            per_s: 100.0,
            p50: 10.0,
            p99: 20.0,
        };
        assert_eq!(measure_ratio(&fast, &slow), "10.0× (p50 10.0×)");
        let a = Measure::Latency { p50: 2.0, p99: 4.0 };
        let b = Measure::Latency {
            p50: 20.0,
            p99: 80.0,
        };
        assert_eq!(measure_ratio(&a, &b), "10.0× (p99 20.0×)");
    }

    #[test]
    fn date_format() {
        let d = utc_now();
        assert!(d.ends_with(" UTC") && d.len() == 20, "{d}");
    }
}
