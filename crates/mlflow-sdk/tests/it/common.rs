//! Starting servers for the tests: our `mlflow-rs` binary and, optionally, the official one.

use mlflow_sdk::{Client, ClientConfig};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server a scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Ours,
    Official,
}

/// A server process on a temp SQLite DB and artifact dir; killed (with its process group) on drop.
pub struct Server {
    pub flavor: Flavor,
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn python() -> Option<PathBuf> {
    let p = std::env::var_os("MLFLOW_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    p.exists().then_some(p)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server binary for `flavor` (`$MLFLOW_RS_BIN` / `$MLFLOW_OFFICIAL_BIN`, else the
/// workspace's debug build / `.venv`), or `None` (with the reason printed) when absent.
fn server_bin(flavor: Flavor) -> Option<PathBuf> {
    let (var, default) = match flavor {
        Flavor::Ours => ("MLFLOW_RS_BIN", "target/debug/mlflow-rs"),
        Flavor::Official => ("MLFLOW_OFFICIAL_BIN", ".venv/bin/mlflow"),
    };
    let bin = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(default));
    if bin.exists() {
        Some(bin)
    } else {
        eprintln!(
            "SKIP: {flavor:?} server {} not found (set {var})",
            bin.display()
        );
        None
    }
}

/// `mlflow server` arguments before the common ones.
fn server_args(flavor: Flavor) -> &'static [&'static str] {
    match flavor {
        Flavor::Ours => &["server"],
        Flavor::Official => &["server", "--workers", "1"],
    }
}

impl Server {
    /// Starts our server, or returns `None` (with the reason printed) if the binary is absent.
    pub fn ours() -> Option<Server> {
        let bin = server_bin(Flavor::Ours)?;
        Some(Server::start(Flavor::Ours, &bin, server_args(Flavor::Ours)))
    }

    /// Starts the official server, or `None` if it is not installed.
    pub fn official() -> Option<Server> {
        let bin = server_bin(Flavor::Official)?;
        Some(Server::start(
            Flavor::Official,
            &bin,
            server_args(Flavor::Official),
        ))
    }

    fn start(flavor: Flavor, bin: &Path, args: &[&str]) -> Server {
        Server::start_with(flavor, bin, args, None, &[])
    }

    /// Our server or the official one with its artifact destination on `s3` (moto).
    pub fn with_s3(flavor: Flavor, s3: &Moto) -> Option<Server> {
        let bin = server_bin(flavor)?;
        let dest = format!("s3://{}/dest-{}", Moto::BUCKET, std::process::id());
        let env = [
            ("MLFLOW_S3_ENDPOINT_URL", s3.url.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ];
        Some(Server::start_with(
            flavor,
            &bin,
            server_args(flavor),
            Some(&dest),
            &env,
        ))
    }

    /// A server that does not proxy artifacts (`--no-serve-artifacts`) and gives runs local
    /// artifact locations under `root`: clients read and write them directly.
    pub fn no_proxy(flavor: Flavor, root: &Path) -> Option<Server> {
        let bin = server_bin(flavor)?;
        let root = root.to_str().unwrap();
        let mut args = server_args(flavor).to_vec();
        args.extend(["--no-serve-artifacts", "--default-artifact-root", root]);
        Some(Server::start_with(flavor, &bin, &args, None, &[]))
    }

    fn start_with(
        flavor: Flavor,
        bin: &Path,
        args: &[&str],
        artifacts: Option<&str>,
        env: &[(&str, &str)],
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let db = format!("sqlite:///{}", dir.path().join("mlflow.db").display());
        let art = dir.path().join("artifacts");
        let art = artifacts
            .map(str::to_string)
            .unwrap_or_else(|| art.to_str().unwrap().to_string());
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--backend-store-uri", &db])
            .args(["--artifacts-destination", &art])
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .env_remove("MLFLOW_TRACKING_URI")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        let child = cmd.spawn().expect("starting the server");
        let url = format!("http://127.0.0.1:{port}");
        let mut server = Server {
            flavor,
            url,
            child,
            _dir: dir,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(180);
        let addr = self.url.trim_start_matches("http://").to_string();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self._dir.path().join("server.log"))
                    .unwrap_or_default();
                panic!("{:?} server exited with {status}:\n{log}", self.flavor);
            }
            if health_ok(&addr) {
                return;
            }
            if Instant::now() > deadline {
                panic!("{:?} server did not become ready", self.flavor);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    #[allow(dead_code)]
    pub fn config(&self) -> ClientConfig {
        ClientConfig::new(&self.url)
            .with_max_retries(2)
            .with_backoff(Duration::from_millis(100), Duration::from_millis(50))
    }

    pub fn client(&self) -> Client {
        Client::new(self.config()).unwrap()
    }

    #[allow(dead_code)]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("server.log")).unwrap_or_default()
    }
}

/// The pids of `pid`'s descendants (children first), read from `/proc`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let ppid = rest
                .split_whitespace()
                .nth(1)
                .and_then(|x| x.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((p, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(cur) = frontier.pop() {
        for &(p, pp) in &parent_of {
            if pp == cur && p > 1 && !out.contains(&p) {
                out.push(p);
                frontier.push(p);
            }
        }
    }
    out
}

/// Sends SIGTERM to one positive pid (never a group or -1).
fn term(pid: u32) {
    if pid > 1 {
        let _ = Command::new("kill")
            .args(["-s", "TERM", "--", &pid.to_string()])
            .status();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only this server's own process tree, pid by pid.
        let pid = self.child.id();
        let tree = descendants(pid);
        term(pid);
        for p in &tree {
            term(*p);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for p in tree {
            let cmdline = std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default();
            if cmdline.contains("mlflow") || cmdline.contains("huey") || cmdline.contains("uvicorn")
            {
                let _ = Command::new("kill")
                    .args(["-s", "KILL", "--", &p.to_string()])
                    .status();
            }
        }
    }
}

/// Runs `code` with the official Python client pointed at `url`; returns its stdout parsed as
/// JSON. `None` (with a printed reason) when Python is not available.
pub fn py(url: &str, code: &str) -> Option<serde_json::Value> {
    let Some(python) = python() else {
        eprintln!("SKIP python cross-check: no .venv/bin/python (set MLFLOW_PYTHON)");
        return None;
    };
    let out = Command::new(python)
        .arg("-c")
        .arg(code)
        .env("MLFLOW_TRACKING_URI", url)
        .env("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("null");
    Some(
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("bad JSON from python ({e}): {stdout}")),
    )
}

/// A unique name for test entities.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid_like())
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst) + mlflow_sdk::now_ns() % 1_000_000
    )
}

fn health_ok(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).contains(" 200")
}

/// A `moto_server` (S3 protocol) on a free loopback port with one bucket; killed on drop.
pub struct Moto {
    pub url: String,
    child: Child,
}

impl Moto {
    pub const BUCKET: &'static str = "sdk-tests";

    /// Starts `.venv/bin/moto_server` (installed by scripts/test.sh), or `None` when absent.
    pub fn start() -> Option<Moto> {
        let bin = workspace_root().join(".venv/bin/moto_server");
        if !bin.exists() {
            eprintln!(
                "SKIP: {} not found (pip install \"moto[server]\")",
                bin.display()
            );
            return None;
        }
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some((status, _)) = moto.http("PUT", &format!("/{}", Moto::BUCKET))
                && status == 200
            {
                return Some(moto);
            }
            if Instant::now() > deadline {
                panic!("moto_server did not start");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A bare HTTP/1.1 request to moto (it accepts unsigned requests): status and headers.
    pub fn http(&self, method: &str, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf).to_string();
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, text))
    }

    /// The ETag of object `key` (multipart uploads end in `-<parts>`), from a bucket listing
    /// (moto answers unsigned listings; unsigned HEADs can be refused).
    pub fn etag(&self, key: &str) -> Option<String> {
        let (status, body) = self.http(
            "GET",
            &format!("/{}?list-type=2&prefix={key}", Moto::BUCKET),
        )?;
        if status != 200 {
            return None;
        }
        let at = body.find(&format!("<Key>{key}</Key>"))?;
        let rest = &body[at..];
        let start = rest.find("<ETag>")? + "<ETag>".len();
        let end = rest[start..].find("</ETag>")? + start;
        Some(
            rest[start..end]
                .replace("&quot;", "")
                .trim_matches('"')
                .to_string(),
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // This child only (its own pid), never a group.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
