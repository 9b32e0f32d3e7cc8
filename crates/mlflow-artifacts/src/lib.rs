//! Artifact repositories for the MLflow-compatible server.
//!
//! - [`ArtifactRepo`]: streaming put/get, directory listing and delete under one root.
//! - [`local::LocalRepo`]: a local directory (plain path or `file:` URI), confined against
//!   `..` and symlink escapes, uploads staged under a temporary name and renamed.
//! - [`object::ObjectStoreRepo`]: any [`object_store::ObjectStore`] under a key prefix, used
//!   for `s3://` (feature `s3`, on by default), `gs://` (`gcs`) and `wasbs://`/`abfss://`
//!   (`azure`). Uploads above one part go through a multipart upload that only becomes
//!   visible when completed.
//! - [`Artifacts`]: resolves the `--artifacts-destination` and run artifact URIs the way the
//!   official server does (`mlflow-artifacts:` roots resolve against the destination).
//! - [`path::RelPath`]: validated relative paths (the official `validate_path_is_safe`).

pub mod local;
pub mod mime;
pub mod object;
pub mod path;
pub mod testing;
pub mod uri;

pub use path::RelPath;
pub use uri::{Artifacts, Env};

use bytes::Bytes;
use futures::stream::BoxStream;
use mlflow_domain::Result;

/// A body being streamed in or out.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// One entry of a directory listing; `path` is relative to the repository root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub path: String,
    pub is_dir: bool,
    /// `None` for directories.
    pub file_size: Option<u64>,
}

/// An artifact being downloaded.
pub struct Download {
    /// Size in bytes when the backend knows it up front.
    pub size: Option<u64>,
    pub stream: ByteStream,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("size", &self.size)
            .finish()
    }
}

/// What a path refers to when it is fetched.
#[derive(Debug)]
pub enum Fetched {
    File(Download),
    /// The path is a directory (a prefix with objects under it, for object stores).
    Directory,
}

/// Streaming access to the artifacts under one root URI.
#[async_trait::async_trait]
pub trait ArtifactRepo: Send + Sync + std::fmt::Debug {
    /// The root URI this repository serves.
    fn uri(&self) -> &str;

    /// Stores `body` at `path` (a file path, not the root). Nothing is visible under `path`
    /// until the whole body has been received. Returns the number of bytes written.
    async fn put(&self, path: &RelPath, body: ByteStream) -> Result<u64>;

    /// Opens `path` for streaming; `RESOURCE_DOES_NOT_EXIST` "No such artifact: '<path>'"
    /// when nothing is there.
    async fn get(&self, path: &RelPath) -> Result<Fetched>;

    /// The direct children of `dir` (root when `None`), sorted by path; a file or a missing
    /// path lists as empty.
    async fn list(&self, dir: &RelPath) -> Result<Vec<FileInfo>>;

    /// Deletes a file or a whole directory; a missing path is not an error.
    async fn delete(&self, path: &RelPath) -> Result<()>;
}

/// The official "not found" error for a download.
pub fn no_such_artifact(path: &RelPath) -> mlflow_domain::Error {
    mlflow_domain::Error::not_found(format!("No such artifact: '{path}'"))
}
