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

    /// Whether clients may upload straight to storage through presigned part URLs (the
    /// official `MultipartUploadMixin`; advertised in `server-info`).
    fn supports_multipart_upload(&self) -> bool {
        false
    }

    /// Whether clients may download straight from storage through presigned URLs (the
    /// official `MultipartDownloadMixin`; advertised in `server-info`).
    fn supports_presigned_download(&self) -> bool {
        false
    }

    /// Starts a multipart upload to `path` and presigns one `UploadPart` URL per part
    /// (`1..=num_parts`).
    async fn create_multipart_upload(
        &self,
        _path: &RelPath,
        _num_parts: u32,
    ) -> Result<MultipartUpload> {
        Err(unsupported_multipart_upload())
    }

    /// Completes a multipart upload with the parts (ascending part numbers) and their ETags.
    async fn complete_multipart_upload(
        &self,
        _path: &RelPath,
        _upload_id: &str,
        _parts: &[UploadedPart],
    ) -> Result<()> {
        Err(unsupported_multipart_upload())
    }

    /// Aborts a multipart upload, discarding the uploaded parts.
    async fn abort_multipart_upload(&self, _path: &RelPath, _upload_id: &str) -> Result<()> {
        Err(unsupported_multipart_upload())
    }

    /// A presigned GET for `path` (with its size), valid for `expires_in`.
    async fn presigned_download(
        &self,
        _path: &RelPath,
        _expires_in: std::time::Duration,
    ) -> Result<PresignedUrl> {
        Err(unsupported_presigned_download())
    }

    /// A presigned PUT for `path`, valid for `expires_in`; the client must send `headers`.
    async fn presigned_upload(
        &self,
        _path: &RelPath,
        _expires_in: std::time::Duration,
    ) -> Result<PresignedUrl> {
        Err(unsupported_presigned_upload())
    }
}

/// One presigned `UploadPart` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartCredential {
    pub part_number: u32,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// A started multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    pub upload_id: String,
    pub credentials: Vec<PartCredential>,
}

/// A part the client uploaded: its number and the `ETag` storage returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub part_number: u32,
    pub etag: Option<String>,
}

/// A presigned URL, the headers the client must send with it, and (downloads) the size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedUrl {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub file_size: Option<u64>,
}

/// `_UnsupportedMultipartUploadException` (501).
pub fn unsupported_multipart_upload() -> mlflow_domain::Error {
    mlflow_domain::Error::new(
        mlflow_domain::ErrorCode::NotImplemented,
        "Multipart upload is not supported for the current artifact repository",
    )
}

/// `_UnsupportedMultipartDownloadException` (501).
pub fn unsupported_presigned_download() -> mlflow_domain::Error {
    mlflow_domain::Error::new(
        mlflow_domain::ErrorCode::NotImplemented,
        "Multipart download is not supported for the current artifact repository",
    )
}

/// `_UnsupportedPresignedUploadException` (501).
pub fn unsupported_presigned_upload() -> mlflow_domain::Error {
    mlflow_domain::Error::new(
        mlflow_domain::ErrorCode::NotImplemented,
        "Presigned upload is not supported for the current artifact repository",
    )
}

/// The official "not found" error for a download.
pub fn no_such_artifact(path: &RelPath) -> mlflow_domain::Error {
    mlflow_domain::Error::not_found(format!("No such artifact: '{path}'"))
}
