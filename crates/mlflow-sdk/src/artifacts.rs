//! Artifacts through the server's proxy (`/api/2.0/mlflow-artifacts/artifacts/...`), streamed
//! from and to disk; large files in parts straight to the object store (presigned URLs); local
//! artifact locations (`file://`, absolute paths: a server that does not proxy) directly.

use crate::client::Client;
use crate::error::{Error, Result};
use crate::types::FileInfo;
use futures::StreamExt;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::Method;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Characters escaped in one path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'?')
    .add(b'{')
    .add(b'}')
    .add(b'%')
    .add(b'/');

const PROXY: &str = "/api/2.0/mlflow-artifacts/artifacts";

/// The path under the proxy for an artifact URI (`mlflow-artifacts:/1/<run>/artifacts` →
/// `1/<run>/artifacts`). Other schemes can't go through the proxy.
pub(crate) fn proxy_root(artifact_uri: &str) -> Result<String> {
    if let Some(rest) = artifact_uri.strip_prefix("mlflow-artifacts:") {
        // mlflow-artifacts:/path or mlflow-artifacts://host:port/path
        let path = if let Some(hosted) = rest.strip_prefix("//") {
            hosted.split_once('/').map(|(_, p)| p).unwrap_or("")
        } else {
            rest
        };
        return Ok(path.trim_matches('/').to_string());
    }
    if let Some(idx) = artifact_uri.find("/api/2.0/mlflow-artifacts/artifacts") {
        return Ok(artifact_uri[idx + PROXY.len()..]
            .trim_matches('/')
            .to_string());
    }
    Err(Error::invalid(format!(
        "artifact URI '{artifact_uri}' is not served by the tracking server's artifact proxy \
         (start the server with --serve-artifacts)"
    )))
}

/// A local artifact location (`file:///…` or an absolute path): read and written directly,
/// as the official `LocalArtifactRepository` does when the server does not proxy artifacts
/// (`--no-serve-artifacts` with a local `--default-artifact-root`).
fn local_root(artifact_uri: &str) -> Option<PathBuf> {
    if let Some(rest) = artifact_uri.strip_prefix("file://") {
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
        return Some(PathBuf::from(decoded.into_owned()));
    }
    artifact_uri
        .starts_with('/')
        .then(|| PathBuf::from(artifact_uri))
}

/// `rel` (a `/`-separated artifact path) under `root`; `..` is refused.
fn local_join(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut p = root.to_path_buf();
    for seg in rel.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if seg == ".." {
            return Err(Error::invalid(format!("Invalid artifact path: '{rel}'")));
        }
        p.push(seg);
    }
    Ok(p)
}

async fn local_write(dst: &Path, from: LocalSource<'_>) -> Result<()> {
    if let Some(parent) = dst.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| io_err(parent, e))?;
    }
    match from {
        LocalSource::File(src) => tokio::fs::copy(src, dst)
            .await
            .map(|_| ())
            .map_err(|e| io_err(dst, e)),
        LocalSource::Bytes(b) => tokio::fs::write(dst, b).await.map_err(|e| io_err(dst, e)),
    }
}

enum LocalSource<'a> {
    File(&'a Path),
    Bytes(Vec<u8>),
}

fn join(a: &str, b: &str) -> String {
    match (a.trim_matches('/'), b.trim_matches('/')) {
        ("", b) => b.to_string(),
        (a, "") => a.to_string(),
        (a, b) => format!("{a}/{b}"),
    }
}

fn encode_path(p: &str) -> String {
    p.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "txt" | "log" | "md" | "py" | "rs" | "yaml" | "yml" | "toml" | "csv" => "text/plain",
        "json" => "application/json",
        "html" => "text/html",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// `size` bytes of `path` from offset `start`.
async fn read_range(path: &Path, start: u64, size: u64) -> Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(|e| io_err(path, e))?;
    f.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| io_err(path, e))?;
    let mut buf = vec![0u8; size as usize];
    f.read_exact(&mut buf).await.map_err(|e| io_err(path, e))?;
    Ok(buf)
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Client {
    /// Uploads one local file to `<artifact_uri>/<artifact_path>/<file name>`, streaming it.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// use std::path::Path;
    /// let run = client.get_run(run_id).await?;
    /// client
    ///     .upload_artifact_to(&run.info.artifact_uri, Path::new("out/weights.bin"), Some("model"))
    ///     .await?; // -> <artifact root>/model/weights.bin
    /// # Ok(()) }
    /// ```
    pub async fn upload_artifact_to(
        &self,
        artifact_uri: &str,
        local_file: &Path,
        artifact_path: Option<&str>,
    ) -> Result<()> {
        let name = local_file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::invalid(format!("not a file: {}", local_file.display())))?;
        if let Some(root) = local_root(artifact_uri) {
            let dst = local_join(&root, &join(artifact_path.unwrap_or(""), name))?;
            return local_write(&dst, LocalSource::File(local_file)).await;
        }
        let root = proxy_root(artifact_uri)?;
        let dir = join(&root, artifact_path.unwrap_or(""));
        let dest = join(&dir, name);
        if self.t.cfg.multipart_upload {
            let len = tokio::fs::metadata(local_file)
                .await
                .map_err(|e| io_err(local_file, e))?
                .len();
            if len >= self.t.cfg.multipart_min_size
                && self.upload_multipart(&dir, local_file, len).await?
            {
                return Ok(());
            }
        }
        let url = self.t.url(&format!("{PROXY}/{}", encode_path(&dest)));
        let ctype = content_type(local_file);
        self.t
            .send(&url, || async {
                let file = tokio::fs::File::open(local_file)
                    .await
                    .map_err(|e| io_err(local_file, e))?;
                let len = file
                    .metadata()
                    .await
                    .map_err(|e| io_err(local_file, e))?
                    .len();
                let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
                Ok(self
                    .t
                    .request(Method::PUT, &url)
                    .header(reqwest::header::CONTENT_TYPE, ctype)
                    .header(reqwest::header::CONTENT_LENGTH, len)
                    .body(body))
            })
            .await?;
        Ok(())
    }

    /// Uploads every file under `local_dir` (recursively) to `<artifact_uri>/<artifact_path>/`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
    /// use std::path::Path;
    /// let model = client.get_logged_model(model_id).await?;
    /// client
    ///     .upload_artifacts_to(&model.info.artifact_uri, Path::new("export"), None)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload_artifacts_to(
        &self,
        artifact_uri: &str,
        local_dir: &Path,
        artifact_path: Option<&str>,
    ) -> Result<()> {
        let mut stack: Vec<(PathBuf, String)> = vec![(
            local_dir.to_path_buf(),
            artifact_path.unwrap_or("").to_string(),
        )];
        while let Some((dir, rel)) = stack.pop() {
            let mut rd = tokio::fs::read_dir(&dir)
                .await
                .map_err(|e| io_err(&dir, e))?;
            while let Some(entry) = rd.next_entry().await.map_err(|e| io_err(&dir, e))? {
                let path = entry.path();
                let ft = entry.file_type().await.map_err(|e| io_err(&path, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if ft.is_dir() {
                    stack.push((path, join(&rel, &name)));
                } else {
                    let sub = if rel.is_empty() {
                        None
                    } else {
                        Some(rel.as_str())
                    };
                    self.upload_artifact_to(artifact_uri, &path, sub).await?;
                }
            }
        }
        Ok(())
    }

    /// Logs a local file as an artifact of a run (like `MlflowClient.log_artifact`).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// use std::path::Path;
    /// client
    ///     .log_artifact(run_id, Path::new("confusion_matrix.png"), Some("plots"))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn log_artifact(
        &self,
        run_id: &str,
        local_file: &Path,
        artifact_path: Option<&str>,
    ) -> Result<()> {
        let run = self.get_run(run_id).await?;
        self.upload_artifact_to(&run.info.artifact_uri, local_file, artifact_path)
            .await
    }

    /// The proxy URL of `path` under `artifact_uri`.
    fn proxy_url(&self, artifact_uri: &str, path: &str) -> Result<String> {
        let root = proxy_root(artifact_uri)?;
        Ok(self
            .t
            .url(&format!("{PROXY}/{}", encode_path(&join(&root, path)))))
    }

    /// Uploads `local_file` into `dir` (a path under the artifact proxy) in parts, each PUT
    /// straight to the object store at the presigned URL the server hands out, as the official
    /// `HttpArtifactRepository` does. Returns `Ok(false)` when the server's artifact destination
    /// cannot do multipart uploads (501), so the caller uses a proxied PUT. A failed part aborts
    /// the upload on the server before the error is returned.
    async fn upload_multipart(&self, dir: &str, local_file: &Path, len: u64) -> Result<bool> {
        #[derive(Deserialize)]
        struct Credential {
            url: String,
            part_number: i64,
            #[serde(default)]
            headers: std::collections::BTreeMap<String, String>,
        }
        #[derive(Deserialize)]
        struct Created {
            upload_id: String,
            credentials: Vec<Credential>,
        }
        let chunk = self.t.cfg.multipart_chunk_size.max(1);
        let num_parts = len.div_ceil(chunk).max(1);
        let local = local_file.display().to_string();
        let base = "/api/2.0/mlflow-artifacts/mpu";
        let created: Created = match self
            .post(
                &format!("{base}/create/{}", encode_path(dir)),
                serde_json::json!({"path": local, "num_parts": num_parts}),
            )
            .await
        {
            Ok(c) => c,
            Err(e) if e.status() == Some(501) => return Ok(false),
            Err(e) => return Err(e),
        };
        // Presigned URLs carry their own signature: no tracking-server auth headers.
        let raw = reqwest::Client::builder()
            .timeout(self.t.cfg.timeout)
            .build()
            .map_err(|e| Error::Http {
                url: local.clone(),
                source: e,
            })?;
        // Owned futures (boxed) keep the upload `Send` for the blocking facade.
        let mut uploads: Vec<futures::future::BoxFuture<'static, Result<serde_json::Value>>> =
            Vec::with_capacity(created.credentials.len());
        for c in created.credentials {
            let raw = raw.clone();
            let path = local_file.to_path_buf();
            uploads.push(Box::pin(async move {
                let start = (c.part_number.max(1) as u64 - 1) * chunk;
                let size = chunk.min(len.saturating_sub(start));
                let bytes = read_range(&path, start, size).await?;
                let mut req = raw.put(&c.url).body(bytes);
                for (k, v) in &c.headers {
                    req = req.header(k, v);
                }
                let resp = req.send().await.map_err(|e| Error::Http {
                    url: c.url.clone(),
                    source: e,
                })?;
                if !resp.status().is_success() {
                    return Err(crate::http::error_from_response(resp).await);
                }
                let etag = resp
                    .headers()
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                Ok(serde_json::json!({"part_number": c.part_number, "etag": etag, "url": c.url}))
            }));
        }
        let parts = futures::stream::iter(uploads)
            .buffer_unordered(4)
            .collect::<Vec<Result<serde_json::Value>>>()
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>();
        let outcome = match parts {
            Ok(mut parts) => {
                parts.sort_by_key(|p| p["part_number"].as_i64());
                self.post::<serde_json::Value>(
                    &format!("{base}/complete/{}", encode_path(dir)),
                    serde_json::json!({"path": local, "upload_id": created.upload_id, "parts": parts}),
                )
                .await
                .map(|_| ())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            let _ = self
                .post::<serde_json::Value>(
                    &format!("{base}/abort/{}", encode_path(dir)),
                    serde_json::json!({"path": local, "upload_id": created.upload_id}),
                )
                .await;
            return Err(e);
        }
        Ok(true)
    }

    /// Logs a local directory's files as artifacts of a run (like `MlflowClient.log_artifacts`).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// use std::path::Path;
    /// client.log_artifacts(run_id, Path::new("outputs"), Some("outputs")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn log_artifacts(
        &self,
        run_id: &str,
        local_dir: &Path,
        artifact_path: Option<&str>,
    ) -> Result<()> {
        let run = self.get_run(run_id).await?;
        self.upload_artifacts_to(&run.info.artifact_uri, local_dir, artifact_path)
            .await
    }

    /// Writes `content` as the artifact `artifact_file` of a run (like `mlflow.log_text`).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// client
    ///     .log_text(run_id, "epochs: 10\nlr: 0.01\n", "config/train.yaml")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn log_text(&self, run_id: &str, content: &str, artifact_file: &str) -> Result<()> {
        let run = self.get_run(run_id).await?;
        self.put_artifact_bytes(
            &run.info.artifact_uri,
            artifact_file,
            content.as_bytes().to_vec(),
        )
        .await
    }

    /// Writes `content` as `path` under an artifact URI.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// let run = client.get_run(run_id).await?;
    /// let labels = serde_json::to_vec(&["cat", "dog"]).expect("serializable");
    /// client
    ///     .put_artifact_bytes(&run.info.artifact_uri, "data/labels.json", labels)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn put_artifact_bytes(
        &self,
        artifact_uri: &str,
        path: &str,
        content: Vec<u8>,
    ) -> Result<()> {
        if let Some(root) = local_root(artifact_uri) {
            let dst = local_join(&root, path)?;
            return local_write(&dst, LocalSource::Bytes(content)).await;
        }
        let url = self.proxy_url(artifact_uri, path)?;
        self.t
            .send(&url, || async {
                Ok(self.t.request(Method::PUT, &url).body(content.clone()))
            })
            .await?;
        Ok(())
    }

    /// Lists the direct children of `path` under an artifact URI. Returned paths are relative to
    /// the artifact root (`dir/file.txt`), as in the Python client.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let uri = "mlflow-artifacts:/1/5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47/artifacts";
    /// for f in client.list_artifacts_at(uri, Some("model")).await? {
    ///     println!("{}{}", f.path, if f.is_dir { "/" } else { "" });
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_artifacts_at(
        &self,
        artifact_uri: &str,
        path: Option<&str>,
    ) -> Result<Vec<FileInfo>> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            files: Vec<FileInfo>,
        }
        let base = path.unwrap_or("").trim_matches('/');
        if let Some(root) = local_root(artifact_uri) {
            let dir = local_join(&root, base)?;
            let mut out = Vec::new();
            // A file or a missing path lists as nothing, like the server's listing.
            let Ok(mut rd) = tokio::fs::read_dir(&dir).await else {
                return Ok(out);
            };
            while let Some(e) = rd.next_entry().await.map_err(|e| io_err(&dir, e))? {
                let md = e.metadata().await.map_err(|err| io_err(&e.path(), err))?;
                out.push(FileInfo {
                    path: join(base, &e.file_name().to_string_lossy()),
                    is_dir: md.is_dir(),
                    file_size: (!md.is_dir()).then_some(md.len() as i64),
                });
            }
            out.sort_by(|a, b| a.path.cmp(&b.path));
            return Ok(out);
        }
        let root = proxy_root(artifact_uri)?;
        let full = join(&root, path.unwrap_or(""));
        let r: R = self.get(PROXY, serde_json::json!({"path": full})).await?;
        Ok(r.files
            .into_iter()
            .map(|mut f| {
                f.path = join(base, &f.path);
                f
            })
            .collect())
    }

    /// Lists a run's artifacts under `path` (the root when `None`).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// for f in client.list_artifacts(run_id, None).await? {
    ///     println!("{} {:?} bytes", f.path, f.file_size);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_artifacts(&self, run_id: &str, path: Option<&str>) -> Result<Vec<FileInfo>> {
        let run = self.get_run(run_id).await?;
        self.list_artifacts_at(&run.info.artifact_uri, path).await
    }

    /// Downloads `path` (a file or a directory, recursively) from an artifact URI into
    /// `dst_dir`; returns the local path of the downloaded file or directory.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
    /// let model = client.get_logged_model(model_id).await?;
    /// let dst = std::env::temp_dir().join("support-agent");
    /// let local = client
    ///     .download_artifacts_from(&model.info.artifact_uri, "", &dst)
    ///     .await?;
    /// assert_eq!(local, dst);
    /// # Ok(()) }
    /// ```
    pub async fn download_artifacts_from(
        &self,
        artifact_uri: &str,
        path: &str,
        dst_dir: &Path,
    ) -> Result<PathBuf> {
        let path = path.trim_matches('/');
        let children = if path.is_empty() {
            self.list_artifacts_at(artifact_uri, None).await?
        } else {
            self.list_artifacts_at(artifact_uri, Some(path)).await?
        };
        // A file lists as nothing (`{}`); a directory lists its children.
        let local_root = if path.is_empty() {
            dst_dir.to_path_buf()
        } else {
            dst_dir.join(path)
        };
        let is_dir = path.is_empty() || !children.is_empty();
        if !is_dir {
            self.download_file(artifact_uri, path, &local_root).await?;
            return Ok(local_root);
        }
        tokio::fs::create_dir_all(&local_root)
            .await
            .map_err(|e| io_err(&local_root, e))?;
        let mut queue = children;
        while let Some(f) = queue.pop() {
            let local = dst_dir.join(&f.path);
            if f.is_dir {
                tokio::fs::create_dir_all(&local)
                    .await
                    .map_err(|e| io_err(&local, e))?;
                queue.extend(self.list_artifacts_at(artifact_uri, Some(&f.path)).await?);
            } else {
                self.download_file(artifact_uri, &f.path, &local).await?;
            }
        }
        Ok(local_root)
    }

    /// Downloads a run's artifact (file or directory) into `dst_dir`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// let dst = std::env::temp_dir().join("churn");
    /// let local = client.download_artifacts(run_id, "model", &dst).await?;
    /// assert_eq!(local, dst.join("model"));
    /// # Ok(()) }
    /// ```
    pub async fn download_artifacts(
        &self,
        run_id: &str,
        path: &str,
        dst_dir: &Path,
    ) -> Result<PathBuf> {
        let run = self.get_run(run_id).await?;
        self.download_artifacts_from(&run.info.artifact_uri, path, dst_dir)
            .await
    }

    /// Reads a small artifact into memory.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// let run = client.get_run(run_id).await?;
    /// let bytes = client
    ///     .read_artifact(&run.info.artifact_uri, "config/train.yaml")
    ///     .await?;
    /// println!("{}", String::from_utf8_lossy(&bytes));
    /// # Ok(()) }
    /// ```
    pub async fn read_artifact(&self, artifact_uri: &str, path: &str) -> Result<bytes::Bytes> {
        if let Some(root) = local_root(artifact_uri) {
            let src = local_join(&root, path)?;
            return tokio::fs::read(&src)
                .await
                .map(bytes::Bytes::from)
                .map_err(|e| io_err(&src, e));
        }
        let url = self.proxy_url(artifact_uri, path)?;
        let resp = self
            .t
            .send(&url, || async { Ok(self.t.request(Method::GET, &url)) })
            .await?;
        resp.bytes()
            .await
            .map_err(|e| Error::Http { url, source: e })
    }

    async fn download_file(&self, artifact_uri: &str, path: &str, local: &Path) -> Result<()> {
        if let Some(root) = local_root(artifact_uri) {
            let src = local_join(&root, path)?;
            return local_write(local, LocalSource::File(&src)).await;
        }
        let url = self.proxy_url(artifact_uri, path)?;
        let resp = self
            .t
            .send(&url, || async { Ok(self.t.request(Method::GET, &url)) })
            .await?;
        if let Some(parent) = local.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io_err(parent, e))?;
        }
        let tmp = local.with_extension("mlflow-part");
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| io_err(&tmp, e))?;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::Http {
                url: url.clone(),
                source: e,
            })?;
            file.write_all(&chunk).await.map_err(|e| io_err(&tmp, e))?;
        }
        file.flush().await.map_err(|e| io_err(&tmp, e))?;
        drop(file);
        tokio::fs::rename(&tmp, local)
            .await
            .map_err(|e| io_err(local, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_roots() {
        assert_eq!(
            proxy_root("mlflow-artifacts:/1/abc/artifacts").unwrap(),
            "1/abc/artifacts"
        );
        assert_eq!(proxy_root("mlflow-artifacts://h:5000/1/x").unwrap(), "1/x");
        assert_eq!(
            proxy_root("http://h/api/2.0/mlflow-artifacts/artifacts/2/r/artifacts").unwrap(),
            "2/r/artifacts"
        );
        assert!(proxy_root("/tmp/mlruns/1").is_err());
        assert_eq!(encode_path("a b/c%d"), "a%20b/c%25d");
    }
}
