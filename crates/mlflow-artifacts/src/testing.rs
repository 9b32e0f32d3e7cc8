//! Test support: a real S3-protocol server on loopback.
//!
//! [`S3Endpoint::get`] uses `MLFLOW_RS_TEST_S3_ENDPOINT` when set (an already running
//! S3-compatible server that accepts the test credentials), else starts `moto_server`
//! (from `pip install "moto[server]"`: `$MLFLOW_RS_MOTO_SERVER`, the workspace `.venv`, or
//! `PATH`) on a free port and stops it on drop. `None` means neither is available and the
//! caller should skip with the printed reason.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Test credentials understood by moto.
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";
pub const REGION: &str = "us-east-1";

/// A running S3 endpoint (owned moto process or an external one).
pub struct S3Endpoint {
    pub url: String,
    child: Option<Child>,
}

impl Drop for S3Endpoint {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn moto_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("MLFLOW_RS_MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.exists())
    })
}

fn free_port() -> Option<u16> {
    TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()
        .map(|a| a.port())
}

/// Sends one raw HTTP request and returns the status code.
fn raw_request(host_port: &str, method: &str, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(host_port)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host_port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let head = String::from_utf8_lossy(&buf);
    Ok(head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

impl S3Endpoint {
    /// An S3 endpoint for tests, or `None` (with the reason on stderr).
    pub fn get() -> Option<Self> {
        if let Ok(url) = std::env::var("MLFLOW_RS_TEST_S3_ENDPOINT") {
            return Some(Self { url, child: None });
        }
        let Some(bin) = moto_binary() else {
            eprintln!(
                "SKIP: no S3 endpoint: set MLFLOW_RS_TEST_S3_ENDPOINT or `pip install \"moto[server]\"`"
            );
            return None;
        };
        let port = free_port()?;
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                eprintln!("SKIP: cannot start {}: {e}", bin.display());
                return None;
            }
        };
        let me = Self {
            url: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if raw_request(&format!("127.0.0.1:{port}"), "GET", "/").is_ok() {
                return Some(me);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("SKIP: moto_server did not start on port {port}");
        None
    }

    fn host_port(&self) -> &str {
        self.url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/')
    }

    /// Creates a bucket (moto accepts unsigned requests).
    pub fn create_bucket(&self, bucket: &str) -> std::io::Result<()> {
        let status = raw_request(self.host_port(), "PUT", &format!("/{bucket}"))?;
        if (200..300).contains(&status) || status == 409 {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "creating bucket {bucket}: HTTP {status}"
            )))
        }
    }

    /// The environment the S3 backend reads (set it before opening `s3://` URIs).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MLFLOW_S3_ENDPOINT_URL", self.url.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_DEFAULT_REGION", REGION.into()),
        ]
    }
}
