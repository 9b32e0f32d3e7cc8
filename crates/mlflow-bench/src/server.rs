//! Starting and stopping the servers under test (each in its own process group, on a free
//! port, with its own temp dir and, for PostgreSQL, its own fresh database).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::procmem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the PostgreSQL server for `--backend postgres` lives.
#[derive(Debug, Clone)]
pub struct PgConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// Which server flavour to start: the command lines differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Ours,
    Official,
}

impl Flavor {
    pub fn tag(self) -> &'static str {
        match self {
            Flavor::Ours => "ours",
            Flavor::Official => "official",
        }
    }
}

/// A database created for one server for one bench run; dropped on drop.
struct PgDb {
    cfg: PgConfig,
    name: String,
}

impl PgDb {
    fn create(cfg: &PgConfig, name: String) -> Result<Self> {
        psql(cfg, &format!("CREATE DATABASE {name}"))
            .with_context(|| format!("creating database {name}"))?;
        Ok(Self {
            cfg: cfg.clone(),
            name,
        })
    }

    /// `scheme` is `postgresql` for ours; the official server gets `postgresql+psycopg2`:
    /// SQLAlchemy 2.1 (in its venv) maps a bare `postgresql://` to psycopg 3, which is not
    /// installed there, while psycopg2-binary is.
    fn uri(&self, scheme: &str) -> String {
        format!(
            "{scheme}://{}@{}:{}/{}",
            self.cfg.user, self.cfg.host, self.cfg.port, self.name
        )
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = psql(&self.cfg, &sql) {
            eprintln!("warning: could not drop database {}: {e:#}", self.name);
        }
    }
}

fn psql(cfg: &PgConfig, sql: &str) -> Result<()> {
    let out = Command::new("psql")
        .args([
            "-h",
            &cfg.host,
            "-p",
            &cfg.port.to_string(),
            "-U",
            &cfg.user,
        ])
        .args(["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .context("running psql (is it installed and on PATH?)")?;
    if !out.status.success() {
        bail!(
            "psql -c {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A running server. Dropping it kills its whole process group (TERM, then KILL), then drops
/// its database and temp dir.
pub struct ServerProc {
    pub flavor: Flavor,
    pub port: u16,
    pub log_path: PathBuf,
    child: Child,
    pgid: i32,
    stopped: bool,
    // Dropped after `Drop::drop` has killed the processes: database, then temp dir.
    _db: Option<PgDb>,
    tmp: Option<tempfile::TempDir>,
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a probe socket")?;
    Ok(l.local_addr()?.port())
}

pub struct StartSpec<'a> {
    pub flavor: Flavor,
    pub program: &'a Path,
    pub backend: Backend,
    pub pg: &'a PgConfig,
    pub keep_tmp: bool,
}

impl ServerProc {
    pub fn start(spec: &StartSpec<'_>) -> Result<Self> {
        let tag = spec.flavor.tag();
        let tmp = tempfile::Builder::new()
            .prefix(&format!("mlflow-bench-{tag}-"))
            .tempdir()
            .context("creating temp dir")?;
        let dir = tmp.path().to_path_buf();
        let art = dir.join("artifacts");
        let db = match spec.backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or_default();
                let name = format!("mlflow_bench_{tag}_{}_{stamp}", std::process::id());
                Some(PgDb::create(spec.pg, name)?)
            }
        };
        let store_uri = match &db {
            // `dir` is absolute, so this is SQLAlchemy's four-slash absolute form.
            None => format!("sqlite:///{}", dir.join("db.sqlite").display()),
            Some(db) => db.uri(match spec.flavor {
                Flavor::Ours => "postgresql",
                Flavor::Official => "postgresql+psycopg2",
            }),
        };
        let port = free_port()?;
        let log_path = dir.join(format!("{tag}.log"));
        let log = File::create(&log_path).context("creating server log")?;
        let log_err = log.try_clone().context("cloning log handle")?;

        let mut cmd = Command::new(spec.program);
        cmd.arg("server");
        match spec.flavor {
            Flavor::Ours => {
                cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .arg("--backend-store-uri")
                    .arg(&store_uri)
                    .arg("--artifacts-destination")
                    .arg(&art);
            }
            Flavor::Official => {
                cmd.env("MLFLOW_DISABLE_TELEMETRY", "true")
                    .arg("--backend-store-uri")
                    .arg(&store_uri)
                    .arg("--artifacts-destination")
                    .arg(&art)
                    .args(["--host", "127.0.0.1", "--port", &port.to_string()]);
            }
        }
        cmd.current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Own process group: the terminal's ctrl-c does not reach it, and the whole tree
            // (the official server forks 16 processes) can be stopped with one signal.
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", spec.program.display()))?;
        let pgid = i32::try_from(child.id()).context("pid out of range")?;
        eprintln!(
            "[{tag}] started pid {pgid} on port {port} ({store_uri}), log {}",
            log_path.display()
        );
        let mut tmp = Some(tmp);
        if spec.keep_tmp
            && let Some(t) = tmp.take()
        {
            let kept = t.keep();
            eprintln!("[{tag}] keeping {}", kept.display());
        }
        Ok(Self {
            flavor: spec.flavor,
            port,
            log_path,
            child,
            pgid,
            stopped: false,
            _db: db,
            tmp,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pgid(&self) -> i32 {
        self.pgid
    }

    /// The last `max` bytes of the server's log, for error messages.
    pub fn log_tail(&self, max: u64) -> String {
        let read = || -> std::io::Result<String> {
            let mut f = File::open(&self.log_path)?;
            let len = f.metadata()?.len();
            f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf).into_owned())
        };
        read().unwrap_or_else(|e| format!("(log unreadable: {e})"))
    }

    /// Poll `GET /health` until it answers 200, failing early if the server exits.
    pub async fn wait_healthy(&mut self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .context("building health-check client")?;
        let url = format!("{}/health", self.base_url());
        loop {
            if let Some(status) = self.child.try_wait().context("polling server process")? {
                bail!(
                    "[{}] server exited with {status} before becoming healthy; log tail:\n{}",
                    self.flavor.tag(),
                    self.log_tail(4000)
                );
            }
            if let Ok(resp) = client.get(&url).send().await
                && resp.status() == reqwest::StatusCode::OK
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                bail!(
                    "[{}] not healthy after {timeout:?}; log tail:\n{}",
                    self.flavor.tag(),
                    self.log_tail(4000)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Wait until the tree has stopped changing: the same number of processes and RSS within
    /// 1% for `quiet` (the official server forks its job consumers, and its workers keep
    /// importing, after /health answers); at most `max`.
    pub async fn wait_tree_stable(&self, quiet: Duration, max: Duration) {
        let started = Instant::now();
        let mut last = procmem::tree_rss(self.pgid);
        let mut since = Instant::now();
        while started.elapsed() < max {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = procmem::tree_rss(self.pgid);
            let drift = now.rss_kib.abs_diff(last.rss_kib) as f64 / last.rss_kib.max(1) as f64;
            if now.processes != last.processes || drift > 0.01 {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
        }
        eprintln!(
            "[{}] process tree still changing after {max:?}; measuring anyway",
            self.flavor.tag()
        );
    }

    fn signal_group(&self, sig: &str) {
        // `kill -s SIG -- -PGID` signals the whole group we created; no other process.
        let _ = Command::new("kill")
            .args(["-s", sig, "--", &format!("-{}", self.pgid)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Stop the whole tree: TERM, wait up to 5 s, then KILL whatever is left.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.signal_group("TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let _ = self.child.try_wait(); // reap the leader so it leaves the group listing
            if procmem::group_pids(self.pgid).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let left = procmem::group_pids(self.pgid);
        if !left.is_empty() {
            let names: Vec<String> = left
                .iter()
                .map(|p| {
                    std::fs::read_to_string(format!("/proc/{p}/comm"))
                        .map(|c| format!("{p} {}", c.trim()))
                        .unwrap_or_else(|_| p.to_string())
                })
                .collect();
            eprintln!(
                "[{}] {} processes still running 5 s after TERM ({}): KILL",
                self.flavor.tag(),
                left.len(),
                names.join(", ")
            );
            self.signal_group("KILL");
        }
        let _ = self.child.wait();
        if let Some(t) = &self.tmp {
            eprintln!(
                "[{}] stopped; removing {}",
                self.flavor.tag(),
                t.path().display()
            );
        } else {
            eprintln!("[{}] stopped", self.flavor.tag());
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Resolve a program given as a bare name through PATH; keep paths as they are.
pub fn resolve_program(p: &Path) -> Result<PathBuf> {
    if p.components().count() > 1 {
        // Absolute: the server runs with its temp dir as working directory.
        return std::path::absolute(p)
            .ok()
            .filter(|a| a.exists())
            .ok_or_else(|| anyhow!("{} does not exist", p.display()));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
        .ok_or_else(|| anyhow!("{} not found on PATH", p.display()))
}
