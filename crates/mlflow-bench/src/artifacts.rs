//! Artifact workloads: upload and download throughput through the proxied artifact service
//! (`PUT`/`GET /api/2.0/mlflow-artifacts/artifacts/<path>`, what the official client's
//! `log_artifact`/`download_artifacts` send for `mlflow-artifacts:` run roots), with the
//! servers' local `--artifacts-destination`.
//!
//! - one large file (1 GiB full, 100 MiB quick), one client, a few repetitions;
//! - many small files (2,000 x 4 KiB full, 200 quick), `clients` concurrent clients.
//!
//! Every download is compared byte for byte with what was uploaded. The same bytes are also
//! written and read with `std::fs` in the system temp dir (the filesystem the servers' temp
//! dirs are on), fsync'd, as a raw-disk reference; it is reported once in the notes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};

use crate::client::{ConnMode, Phase, sort_ms};
use crate::workloads::{Ctx, Measure, Outcome, Workload, thousands};

const ART: &str = "/api/2.0/mlflow-artifacts/artifacts";
const MIB: f64 = 1024.0 * 1024.0;
/// Size of each small file.
pub const SMALL_FILE: usize = 4096;

pub fn label_large_put(mib: usize, reps: usize) -> String {
    format!(
        "artifact upload of one {} MiB file (proxied PUT, local destination), 1 client, {reps} reps: MiB/s (p50 / p99 ms per file)",
        thousands(mib as f64)
    )
}

pub fn label_large_get(mib: usize, reps: usize) -> String {
    format!(
        "artifact download of one {} MiB file (proxied GET), 1 client, {reps} reps: MiB/s (p50 / p99 ms per file)",
        thousands(mib as f64)
    )
}

pub fn label_small_put(files: usize, clients: usize) -> String {
    format!(
        "artifact upload of {} files of 4 KiB (proxied PUT), {clients} clients: files/s (p50 / p99 ms per file)",
        thousands(files as f64)
    )
}

pub fn label_small_get(files: usize, clients: usize) -> String {
    format!(
        "artifact download of {} files of 4 KiB (proxied GET), {clients} clients: files/s (p50 / p99 ms per file)",
        thousands(files as f64)
    )
}

/// Deterministic bytes shared by both servers (leaked once: the bench process is short-lived
/// and request bodies borrow it without copies).
fn data(len: usize) -> &'static [u8] {
    static DATA: OnceLock<Mutex<Option<&'static [u8]>>> = OnceLock::new();
    let cell = DATA.get_or_init(|| Mutex::new(None));
    let mut guard = match cell.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(d) = *guard
        && d.len() >= len
    {
        return &d[..len];
    }
    let mut v = vec![0u8; len];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in v.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let w = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
    let leaked: &'static [u8] = Box::leak(v.into_boxed_slice());
    *guard = Some(leaked);
    leaked
}

fn http(mode: ConnMode) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(match mode {
            ConnMode::KeepAlive => 1,
            ConnMode::NewPerRequest => 0,
        })
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(3600))
        .build()
        .context("building HTTP client")
}

fn nonce() -> String {
    format!(
        "bench-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    )
}

async fn put(client: &reqwest::Client, url: &str, body: &'static [u8]) -> Result<()> {
    let resp = client
        .put(url)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .with_context(|| format!("PUT {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        bail!(
            "PUT {url}: HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
    resp.bytes().await.context("reading the PUT answer")?;
    Ok(())
}

/// Streams a GET and checks it against `want` chunk by chunk (nothing is buffered).
async fn get_check(client: &reqwest::Client, url: &str, want: &[u8]) -> Result<()> {
    let mut resp = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        bail!("GET {url}: HTTP {status}");
    }
    let mut off = 0usize;
    while let Some(chunk) = resp.chunk().await.context("reading the download")? {
        let end = off + chunk.len();
        if end > want.len() || want[off..end] != chunk[..] {
            bail!("GET {url}: content differs from the upload at byte {off}");
        }
        off = end;
    }
    if off != want.len() {
        bail!("GET {url}: {off} bytes, expected {}", want.len());
    }
    Ok(())
}

fn phase(mut lat: Vec<f64>, elapsed: Duration) -> Phase {
    sort_ms(&mut lat);
    Phase {
        latencies_ms: lat,
        elapsed,
    }
}

/// Raw-disk reference notes, computed once per workload for the whole bench.
fn raw_note_once(w: Workload, compute: impl FnOnce() -> Result<String>) -> Option<String> {
    static DONE: OnceLock<Mutex<BTreeMap<Workload, ()>>> = OnceLock::new();
    let done = DONE.get_or_init(|| Mutex::new(BTreeMap::new()));
    {
        let mut d = match done.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if d.insert(w, ()).is_some() {
            return None;
        }
    }
    Some(match compute() {
        Ok(s) => s,
        Err(e) => format!("raw disk reference failed: {e:#}"),
    })
}

/// Writes `bytes` to one file (8 MiB writes, fsync) and reads it back (1 MiB reads):
/// (write MiB/s, read MiB/s).
fn raw_large(bytes: &[u8]) -> Result<(f64, f64)> {
    let dir = tempfile::Builder::new()
        .prefix("mlflow-bench-raw-")
        .tempdir()?;
    let path = dir.path().join("large.bin");
    let t = Instant::now();
    let mut f = std::fs::File::create(&path)?;
    for c in bytes.chunks(8 << 20) {
        f.write_all(c)?;
    }
    f.sync_all()?;
    drop(f);
    let w = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut f = std::fs::File::open(&path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0usize;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let r = t.elapsed().as_secs_f64();
    if n != bytes.len() {
        bail!("raw read {n} bytes of {}", bytes.len());
    }
    let mib = bytes.len() as f64 / MIB;
    Ok((mib / w, mib / r))
}

/// Writes `files` files of 4 KiB (each fsync'd) in nested dirs and reads them back:
/// (write files/s, read files/s).
fn raw_small(files: usize) -> Result<(f64, f64)> {
    let dir = tempfile::Builder::new()
        .prefix("mlflow-bench-raw-")
        .tempdir()?;
    let src = data(files * SMALL_FILE);
    let path = |i: usize| {
        dir.path()
            .join(format!("d{}", i % 16))
            .join(format!("f{i}.bin"))
    };
    for d in 0..16 {
        std::fs::create_dir_all(dir.path().join(format!("d{d}")))?;
    }
    let t = Instant::now();
    for i in 0..files {
        let mut f = std::fs::File::create(path(i))?;
        f.write_all(&src[i * SMALL_FILE..(i + 1) * SMALL_FILE])?;
        f.sync_all()?;
    }
    let w = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..files {
        let got = std::fs::read(path(i))?;
        if got.len() != SMALL_FILE {
            bail!("raw small read: {} bytes", got.len());
        }
    }
    let r = t.elapsed().as_secs_f64();
    Ok((files as f64 / w, files as f64 / r))
}

fn large_sizes(ctx: &Ctx<'_>) -> (usize, usize) {
    (
        ctx.sizes.artifact_large_mib.max(1) << 20,
        ctx.sizes.artifact_large_reps.max(1),
    )
}

/// One large file, `reps` times: PUT (`upload`) or GET (`!upload`, after an untimed PUT).
pub async fn large(ctx: &Ctx<'_>, upload: bool) -> Result<Outcome> {
    let (len, reps) = large_sizes(ctx);
    let body = data(len);
    let client = http(ctx.mode)?;
    let root = format!("{}{ART}/{}", ctx.base, nonce());
    // Warm-up: one small file each way (connection set-up, first-request costs).
    let warm = format!("{root}/warm.bin");
    put(&client, &warm, &body[..SMALL_FILE]).await?;
    get_check(&client, &warm, &body[..SMALL_FILE]).await?;
    let mut notes = Vec::new();
    let mut lat = Vec::with_capacity(reps);
    let mut total = Duration::ZERO;
    for rep in 0..reps {
        let url = format!("{root}/large-{rep}.bin");
        if upload {
            let t = Instant::now();
            put(&client, &url, body).await?;
            let e = t.elapsed();
            total += e;
            lat.push(e.as_secs_f64() * 1e3);
            // Verify (untimed) that the whole file landed.
            if rep == 0 {
                get_check(&client, &url, body)
                    .await
                    .context("verifying the upload")?;
            }
        } else {
            let t = Instant::now();
            put(&client, &url, body).await?;
            if rep == 0 {
                notes.push(format!(
                    "setup: uploaded the file in {:.1} s",
                    t.elapsed().as_secs_f64()
                ));
            }
            let t = Instant::now();
            get_check(&client, &url, body).await?;
            let e = t.elapsed();
            total += e;
            lat.push(e.as_secs_f64() * 1e3);
        }
    }
    let p = phase(lat, total);
    let mib_s = (len * reps) as f64 / MIB / total.as_secs_f64().max(1e-9);
    notes.push("downloads checked byte for byte against the upload".to_string());
    let which = if upload {
        Workload::ArtifactLargePut
    } else {
        Workload::ArtifactLargeGet
    };
    if let Some(n) = raw_note_once(which, || {
        let (w, r) = raw_large(body)?;
        Ok(format!(
            "raw disk reference (std::fs in {}, same machine): write + fsync {} MiB/s, read back {} MiB/s (page cache warm, as for the servers' downloads)",
            std::env::temp_dir().display(),
            crate::report::num(w),
            crate::report::num(r)
        ))
    }) {
        notes.push(n);
    }
    Ok(Outcome {
        measure: Measure::Rate {
            per_s: mib_s,
            p50: p.p(50.0),
            p99: p.p(99.0),
        },
        notes,
    })
}

/// `files` small files over `clients` concurrent clients (file i goes to client i % clients).
async fn small_phase(
    clients: &[reqwest::Client],
    root: &str,
    files: usize,
    upload: bool,
) -> Result<Phase> {
    let src = data(files * SMALL_FILE);
    let n = clients.len().max(1);
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (ci, client) in clients.iter().enumerate() {
        let client = client.clone();
        let root = root.to_string();
        set.spawn(async move {
            let mut lat = Vec::new();
            let mut i = ci;
            while i < files {
                let url = format!("{root}/d{}/f{i}.bin", i % 16);
                let bytes = &src[i * SMALL_FILE..(i + 1) * SMALL_FILE];
                let t = Instant::now();
                if upload {
                    put(&client, &url, bytes).await?;
                } else {
                    get_check(&client, &url, bytes).await?;
                }
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                i += n;
            }
            Ok::<_, anyhow::Error>(lat)
        });
    }
    let mut all = Vec::with_capacity(files);
    while let Some(j) = set.join_next().await {
        all.extend(j.map_err(|e| anyhow!("client task failed: {e}"))??);
    }
    Ok(phase(all, start.elapsed()))
}

/// Many small files: PUT (`upload`) or GET (`!upload`, after an untimed upload).
pub async fn small(ctx: &Ctx<'_>, upload: bool) -> Result<Outcome> {
    let files = ctx.sizes.artifact_small_files.max(1);
    let clients: Vec<reqwest::Client> = (0..ctx.sizes.clients.max(1))
        .map(|_| http(ctx.mode))
        .collect::<Result<_>>()?;
    let base = format!("{}{ART}/{}", ctx.base, nonce());
    // Warm-up: a few files per client, untimed, elsewhere.
    small_phase(&clients, &format!("{base}-warm"), clients.len() * 2, true).await?;
    let mut notes = Vec::new();
    let p = if upload {
        let p = small_phase(&clients, &base, files, true).await?;
        let t = Instant::now();
        small_phase(&clients, &base, files, false)
            .await
            .context("verifying the uploads")?;
        notes.push(format!(
            "all uploads read back and checked ({:.1} s, untimed)",
            t.elapsed().as_secs_f64()
        ));
        p
    } else {
        let t = Instant::now();
        small_phase(&clients, &base, files, true).await?;
        notes.push(format!(
            "setup: uploaded the files in {:.1} s",
            t.elapsed().as_secs_f64()
        ));
        let p = small_phase(&clients, &base, files, false).await?;
        notes.push("downloads checked byte for byte".to_string());
        p
    };
    let which = if upload {
        Workload::ArtifactSmallPut
    } else {
        Workload::ArtifactSmallGet
    };
    let mib_s = p.per_sec() * SMALL_FILE as f64 / MIB;
    notes.push(format!("{} MiB/s", crate::report::num(mib_s)));
    if let Some(n) = raw_note_once(which, || {
        let (w, r) = raw_small(files)?;
        Ok(format!(
            "raw disk reference (std::fs, one thread, same machine): create + write + fsync {} files/s, read back {} files/s",
            crate::report::num(w),
            crate::report::num(r)
        ))
    }) {
        notes.push(n);
    }
    Ok(Outcome {
        measure: Measure::Rate {
            per_s: p.per_sec(),
            p50: p.p(50.0),
            p99: p.p(99.0),
        },
        notes,
    })
}
