//! Artifacts in a local directory (`LocalArtifactRepository`).
//!
//! Every path is confined to the root after resolving symlinks: the deepest existing
//! ancestor of the target is canonicalised and must stay under the canonical root. Uploads
//! are written to `.artifact.uploading.<uuid>` in the target directory and renamed onto the
//! final name only once the whole body has arrived; a failed or cancelled upload removes
//! its temporary file, and listings skip such names (the official prefix).

use crate::{ArtifactRepo, ByteStream, Download, Fetched, FileInfo, RelPath, no_such_artifact};
use futures::StreamExt;
use mlflow_domain::{Error, Result};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Names with this prefix are uploads in progress (the official `_TEMP_ARTIFACT_PREFIX`).
pub const TEMP_PREFIX: &str = ".artifact.uploading.";

const READ_CHUNK: usize = 256 * 1024;
const WRITE_BUFFER: usize = 1024 * 1024;

/// A directory of artifacts.
#[derive(Debug, Clone)]
pub struct LocalRepo {
    uri: String,
    root: PathBuf,
}

fn io_err(context: &str, e: std::io::Error) -> Error {
    Error::internal(format!("{context}: {e}"))
}

fn escape_error() -> Error {
    Error::invalid("Invalid path: resolved path is outside the artifact directory")
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("artifact I/O task failed: {e}")))?
}

/// Removes a staged upload unless it was published (runs on error and on cancellation).
struct StagedFile {
    path: Option<PathBuf>,
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl LocalRepo {
    /// `root` is a plain path or a `file:` URI; relative paths are taken from the current
    /// directory, as the official server does.
    pub fn new(uri: &str) -> Result<Self> {
        let path = local_uri_to_path(uri);
        let root = std::path::absolute(&path)
            .map_err(|e| Error::invalid(format!("Invalid artifact root '{uri}': {e}")))?;
        Ok(Self {
            uri: uri.to_string(),
            root,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn join(&self, rel: &RelPath) -> PathBuf {
        let mut p = self.root.clone();
        for s in rel.segments() {
            p.push(s);
        }
        p
    }

    /// The filesystem path of `rel`, refused when it resolves (through symlinks) outside
    /// the root. Blocking.
    fn confine_blocking(root: &Path, target: &Path) -> Result<()> {
        let canon_root = match root.canonicalize() {
            Ok(r) => r,
            // No root yet: nothing below it can be a symlink.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("resolving the artifact root", e)),
        };
        // The deepest ancestor (or the target itself) that exists, dangling symlinks included.
        let mut existing = target.to_path_buf();
        loop {
            if existing.symlink_metadata().is_ok() {
                break;
            }
            if !existing.pop() {
                return Ok(());
            }
        }
        let resolved = existing.canonicalize().map_err(|_| escape_error())?;
        if resolved.starts_with(&canon_root) {
            Ok(())
        } else {
            Err(escape_error())
        }
    }

    async fn confine(&self, rel: &RelPath) -> Result<PathBuf> {
        let root = self.root.clone();
        let target = self.join(rel);
        blocking(move || Self::confine_blocking(&root, &target).map(|_| target)).await
    }
}

/// `file:///a/b` -> `/a/b`, `file:a` -> `a`, anything else unchanged.
pub fn local_uri_to_path(uri: &str) -> PathBuf {
    let Some(rest) = uri.strip_prefix("file:") else {
        return PathBuf::from(uri);
    };
    let path = match rest.strip_prefix("//") {
        Some(after) => match after.find('/') {
            Some(i) => &after[i..],
            None => "/",
        },
        None => rest,
    };
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    PathBuf::from(decoded.as_ref())
}

#[async_trait::async_trait]
impl ArtifactRepo for LocalRepo {
    fn uri(&self) -> &str {
        &self.uri
    }

    async fn put(&self, path: &RelPath, mut body: ByteStream) -> Result<u64> {
        let name = path.file_name();
        if name.is_empty() {
            return Err(Error::invalid(
                "Artifact path must include a filename (cannot end with '/').",
            ));
        }
        if name.starts_with(TEMP_PREFIX) {
            return Err(Error::invalid(format!(
                "Invalid artifact file name: '{name}'. Artifact names starting with \
                 '{TEMP_PREFIX}' are reserved."
            )));
        }
        let target = self.confine(path).await?;
        let dir = self.confine(&path.parent()).await?;
        {
            let (root, dir) = (self.root.clone(), dir.clone());
            blocking(move || {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| io_err("creating the artifact directory", e))?;
                // Re-check: a symlink may have appeared while creating the directories.
                Self::confine_blocking(&root, &dir)
            })
            .await?;
        }
        if tokio::fs::metadata(&target)
            .await
            .map(|m| m.is_dir())
            .unwrap_or(false)
        {
            return Err(Error::invalid(format!(
                "Artifact path refers to a directory, not a file: '{path}'"
            )));
        }
        let tmp = dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
            .map_err(|e| io_err("creating the upload file", e))?;
        let mut staged = StagedFile {
            path: Some(tmp.clone()),
        };
        let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut written: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::internal(format!("reading the upload: {e}")))?;
            out.write_all(&chunk)
                .await
                .map_err(|e| io_err("writing the artifact", e))?;
            written += chunk.len() as u64;
        }
        out.flush()
            .await
            .map_err(|e| io_err("writing the artifact", e))?;
        let mut file = out.into_inner();
        file.flush()
            .await
            .map_err(|e| io_err("writing the artifact", e))?;
        drop(file);
        tokio::fs::rename(&tmp, &target)
            .await
            .map_err(|e| io_err("publishing the artifact", e))?;
        staged.path = None;
        Ok(written)
    }

    async fn get(&self, path: &RelPath) -> Result<Fetched> {
        let target = self.confine(path).await?;
        let meta = match tokio::fs::metadata(&target).await {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(no_such_artifact(path));
            }
            Err(e) => return Err(io_err("reading the artifact", e)),
        };
        if meta.is_dir() {
            return Ok(Fetched::Directory);
        }
        let file = tokio::fs::File::open(&target)
            .await
            .map_err(|e| io_err("opening the artifact", e))?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK);
        Ok(Fetched::File(Download {
            size: Some(meta.len()),
            stream: stream.boxed(),
        }))
    }

    async fn list(&self, dir: &RelPath) -> Result<Vec<FileInfo>> {
        let target = self.confine(dir).await?;
        let dir = dir.clone();
        blocking(move || {
            let entries = match std::fs::read_dir(&target) {
                Ok(e) => e,
                // Missing, or a file: an empty listing.
                Err(_) => return Ok(Vec::new()),
            };
            let mut infos = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| io_err("listing artifacts", e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(TEMP_PREFIX) {
                    continue;
                }
                // Follows symlinks, as os.path.isdir / getsize do.
                let Ok(meta) = std::fs::metadata(entry.path()) else {
                    continue;
                };
                let path = if dir.is_root() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                infos.push(FileInfo {
                    path,
                    is_dir: meta.is_dir(),
                    file_size: (!meta.is_dir()).then_some(meta.len()),
                });
            }
            infos.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(infos)
        })
        .await
    }

    async fn delete(&self, path: &RelPath) -> Result<()> {
        let target = self.confine(path).await?;
        blocking(move || {
            let meta = match target.symlink_metadata() {
                Ok(m) => m,
                Err(_) => return Ok(()),
            };
            let r = if meta.is_dir() {
                std::fs::remove_dir_all(&target)
            } else {
                std::fs::remove_file(&target)
            };
            r.map_err(|e| io_err("deleting the artifact", e))
        })
        .await
    }
}
