//! Artifacts in an object store (S3, GCS, Azure, or any [`ObjectStore`]) under a key prefix.
//!
//! Uploads: bodies that fit in one part (8 MiB) are a single PUT; larger ones stream
//! through a multipart upload with at most [`MAX_CONCURRENCY`] parts in flight, so memory
//! stays bounded. The object only appears when the upload completes; on error or
//! cancellation the multipart upload is aborted.

use crate::{
    ArtifactRepo, ByteStream, Download, Fetched, FileInfo, MultipartUpload, PartCredential,
    PresignedUrl, RelPath, UploadedPart, no_such_artifact,
};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use mlflow_domain::{Error, ErrorCode, Result};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as StorePath;
use object_store::signer::{Method, SignedUrlOptions, Signer};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use std::sync::Arc;
use std::time::Duration;

/// Part size of multipart uploads (S3 needs >= 5 MiB except for the last part).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploaded concurrently.
pub const MAX_CONCURRENCY: usize = 2;
/// S3's part-number limit.
pub const MAX_PARTS: u32 = 10_000;
/// Lifetime of presigned `UploadPart` URLs (boto's `generate_presigned_url` default).
pub const PART_URL_TTL: Duration = Duration::from_secs(3600);

/// Direct (credential-less) access for clients: presigned URLs plus the server-driven
/// multipart lifecycle. Implemented by object_store's `AmazonS3`.
pub trait DirectStore: Signer + MultipartStore {}
impl<T: Signer + MultipartStore> DirectStore for T {}

/// A repository rooted at `prefix` inside `store`.
#[derive(Debug, Clone)]
pub struct ObjectStoreRepo {
    uri: String,
    store: Arc<dyn ObjectStore>,
    /// No leading or trailing `/`; empty for a bucket root.
    prefix: String,
    /// Presigning and multipart control, when the backend supports them (S3).
    direct: Option<Arc<dyn DirectStore>>,
}

/// Maps an object_store error to the MLflow one.
pub fn store_error(e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { path, .. } => {
            Error::not_found(format!("No such artifact: '{path}'"))
        }
        object_store::Error::InvalidPath { .. } => Error::invalid(crate::path::INVALID_PATH),
        object_store::Error::PermissionDenied { source, .. }
        | object_store::Error::Unauthenticated { source, .. } => Error::new(
            ErrorCode::PermissionDenied,
            format!("Artifact storage denied access: {source}"),
        ),
        other => Error::internal(format!("Artifact storage error: {other}")),
    }
}

/// Aborts a multipart upload that was neither completed nor aborted (cancellation).
struct PendingUpload(Option<WriteMultipart>);

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if let Some(w) = self.0.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                if let Err(e) = w.abort().await {
                    tracing::warn!(error = %e, "aborting an interrupted multipart upload failed");
                }
            });
        }
    }
}

impl ObjectStoreRepo {
    pub fn new(uri: impl Into<String>, store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self {
            uri: uri.into(),
            store,
            prefix: prefix.trim_matches('/').to_string(),
            direct: None,
        }
    }

    /// Enables multipart uploads and presigned URLs through `direct` (the same store).
    pub fn with_direct(mut self, direct: Option<Arc<dyn DirectStore>>) -> Self {
        self.direct = direct;
        self
    }

    fn direct(&self) -> Result<&Arc<dyn DirectStore>> {
        self.direct
            .as_ref()
            .ok_or_else(crate::unsupported_multipart_upload)
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    fn key_str(&self, rel: &RelPath) -> String {
        match (self.prefix.is_empty(), rel.is_root()) {
            (true, _) => rel.as_str().to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{}", self.prefix, rel),
        }
    }

    fn key(&self, rel: &RelPath) -> Result<StorePath> {
        StorePath::parse(self.key_str(rel)).map_err(|_| Error::invalid(crate::path::INVALID_PATH))
    }

    /// Converts a listed key back to a path relative to the root.
    fn relative(&self, key: &StorePath) -> String {
        let k = key.as_ref();
        if self.prefix.is_empty() {
            return k.to_string();
        }
        k.strip_prefix(&self.prefix)
            .map(|s| s.trim_start_matches('/').to_string())
            .unwrap_or_else(|| k.to_string())
    }

    /// The key of a file (not the root).
    fn file_key(&self, rel: &RelPath) -> Result<StorePath> {
        if rel.is_root() {
            return Err(Error::invalid(
                "Artifact path must include a filename (cannot end with '/').",
            ));
        }
        self.key(rel)
    }

    async fn is_prefix(&self, key: &StorePath) -> Result<bool> {
        let mut listing = self.store.list(Some(key));
        Ok(listing.try_next().await.map_err(store_error)?.is_some())
    }
}

#[async_trait::async_trait]
impl ArtifactRepo for ObjectStoreRepo {
    fn uri(&self) -> &str {
        &self.uri
    }

    async fn put(&self, path: &RelPath, mut body: ByteStream) -> Result<u64> {
        if path.is_root() {
            return Err(Error::invalid(
                "Artifact path must include a filename (cannot end with '/').",
            ));
        }
        let key = self.key(path)?;
        let read_err = |e: std::io::Error| Error::internal(format!("reading the upload: {e}"));
        // Buffer the first part: small artifacts are one PUT.
        let mut first = BytesMut::new();
        let mut written: u64 = 0;
        let mut overflow: Option<Bytes> = None;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(read_err)?;
            written += chunk.len() as u64;
            if first.len() + chunk.len() > PART_SIZE {
                overflow = Some(chunk);
                break;
            }
            first.extend_from_slice(&chunk);
        }
        let Some(overflow) = overflow else {
            self.store
                .put(&key, PutPayload::from(first.freeze()))
                .await
                .map_err(store_error)?;
            return Ok(written);
        };
        let upload = self.store.put_multipart(&key).await.map_err(store_error)?;
        let mut pending =
            PendingUpload(Some(WriteMultipart::new_with_chunk_size(upload, PART_SIZE)));
        let result: Result<()> = async {
            let Some(w) = pending.0.as_mut() else {
                return Ok(());
            };
            w.put(first.freeze());
            w.put(overflow);
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(read_err)?;
                written += chunk.len() as u64;
                w.wait_for_capacity(MAX_CONCURRENCY)
                    .await
                    .map_err(store_error)?;
                w.put(chunk);
            }
            Ok(())
        }
        .await;
        let Some(w) = pending.0.take() else {
            return Err(Error::internal("multipart upload state lost"));
        };
        match result {
            Ok(()) => {
                w.finish().await.map_err(store_error)?;
                Ok(written)
            }
            Err(e) => {
                if let Err(abort) = w.abort().await {
                    tracing::warn!(error = %abort, "aborting a failed multipart upload failed");
                }
                Err(e)
            }
        }
    }

    async fn get(&self, path: &RelPath) -> Result<Fetched> {
        let key = self.key(path)?;
        if !path.is_root() || !self.prefix.is_empty() {
            match self.store.get(&key).await {
                Ok(r) => {
                    let size = r.meta.size;
                    let stream = r.into_stream().map_err(std::io::Error::other).boxed();
                    return Ok(Fetched::File(Download {
                        size: Some(size),
                        stream,
                    }));
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        if path.is_root() || self.is_prefix(&key).await? {
            Ok(Fetched::Directory)
        } else {
            Err(no_such_artifact(path))
        }
    }

    async fn list(&self, dir: &RelPath) -> Result<Vec<FileInfo>> {
        let key = self.key(dir)?;
        let prefix = (!key.as_ref().is_empty()).then_some(&key);
        let listing = self
            .store
            .list_with_delimiter(prefix)
            .await
            .map_err(store_error)?;
        let mut infos = Vec::new();
        for p in listing.common_prefixes {
            infos.push(FileInfo {
                path: self.relative(&p),
                is_dir: true,
                file_size: None,
            });
        }
        for o in listing.objects {
            let path = self.relative(&o.location);
            // Directory markers (`dir/` with size 0) are not files.
            if path.is_empty() || (o.size == 0 && o.location.as_ref().ends_with('/')) {
                continue;
            }
            infos.push(FileInfo {
                path,
                is_dir: false,
                file_size: Some(o.size),
            });
        }
        infos.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(infos)
    }

    async fn delete(&self, path: &RelPath) -> Result<()> {
        let key = self.key(path)?;
        let prefix = (!key.as_ref().is_empty()).then_some(&key);
        let locations = self.store.list(prefix).map_ok(|m| m.location).boxed();
        let mut deleted = self.store.delete_stream(locations);
        while let Some(r) = deleted.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        if !path.is_root() {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        Ok(())
    }

    fn supports_multipart_upload(&self) -> bool {
        self.direct.is_some()
    }

    fn supports_presigned_download(&self) -> bool {
        self.direct.is_some()
    }

    async fn create_multipart_upload(
        &self,
        path: &RelPath,
        num_parts: u32,
    ) -> Result<MultipartUpload> {
        let direct = self.direct()?;
        if num_parts > MAX_PARTS {
            return Err(Error::invalid(format!(
                "num_parts must be at most {MAX_PARTS}, got {num_parts}"
            )));
        }
        let key = self.file_key(path)?;
        let upload_id = direct.create_multipart(&key).await.map_err(store_error)?;
        let mut credentials = Vec::with_capacity(num_parts as usize);
        for part_number in 1..=num_parts {
            let options = SignedUrlOptions::default().with_query([
                ("partNumber", part_number.to_string()),
                ("uploadId", upload_id.clone()),
            ]);
            let url = direct
                .signed_url_opts(Method::PUT, &key, PART_URL_TTL, &options)
                .await
                .map_err(store_error)?;
            credentials.push(PartCredential {
                part_number,
                url: url.to_string(),
                headers: Vec::new(),
            });
        }
        Ok(MultipartUpload {
            upload_id,
            credentials,
        })
    }

    async fn complete_multipart_upload(
        &self,
        path: &RelPath,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> Result<()> {
        let direct = self.direct()?;
        let key = self.file_key(path)?;
        // object_store numbers the parts it sends 1..=n in order.
        let mut ids = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            if part.part_number as usize != i + 1 {
                return Err(Error::invalid(format!(
                    "Parts must be numbered 1..{} in ascending order; part {} has number {}",
                    parts.len(),
                    i + 1,
                    part.part_number
                )));
            }
            ids.push(PartId {
                content_id: part.etag.clone().unwrap_or_default(),
            });
        }
        direct
            .complete_multipart(&key, &upload_id.to_string(), ids)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn abort_multipart_upload(&self, path: &RelPath, upload_id: &str) -> Result<()> {
        let direct = self.direct()?;
        let key = self.file_key(path)?;
        direct
            .abort_multipart(&key, &upload_id.to_string())
            .await
            .map_err(store_error)
    }

    async fn presigned_download(
        &self,
        path: &RelPath,
        expires_in: Duration,
    ) -> Result<PresignedUrl> {
        let Some(direct) = self.direct.as_ref() else {
            return Err(crate::unsupported_presigned_download());
        };
        let key = self.key(path)?;
        let meta = match self.store.head(&key).await {
            Ok(m) => m,
            // A HEAD 404 carries no error body; boto reports the bare status text.
            Err(object_store::Error::NotFound { .. }) => return Err(Error::not_found("Not Found")),
            Err(e) => return Err(store_error(e)),
        };
        let name = key.as_ref().rsplit('/').next().unwrap_or_default();
        let options = SignedUrlOptions::default()
            .with_query([("response-content-disposition", attachment_disposition(name))]);
        let url = direct
            .signed_url_opts(Method::GET, &key, expires_in, &options)
            .await
            .map_err(store_error)?;
        Ok(PresignedUrl {
            url: url.to_string(),
            headers: Vec::new(),
            file_size: Some(meta.size),
        })
    }

    async fn presigned_upload(&self, path: &RelPath, expires_in: Duration) -> Result<PresignedUrl> {
        let Some(direct) = self.direct.as_ref() else {
            return Err(crate::unsupported_presigned_upload());
        };
        let key = self.file_key(path)?;
        let content_type = crate::mime::guess(path.file_name());
        let options = SignedUrlOptions::default().with_signed_header(
            object_store::signer::HeaderName::from_static("content-type"),
            object_store::signer::HeaderValue::from_static(content_type),
        );
        let url = direct
            .signed_url_opts(Method::PUT, &key, expires_in, &options)
            .await
            .map_err(store_error)?;
        Ok(PresignedUrl {
            url: url.to_string(),
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            file_size: None,
        })
    }
}

/// The official S3 repository's `_attachment_content_disposition`: a quoted `filename=` for
/// printable ASCII, else a percent-encoded `filename*=UTF-8''`.
pub fn attachment_disposition(filename: &str) -> String {
    if filename.chars().all(|c| (' '..='~').contains(&c)) {
        let escaped = filename.replace('\\', "\\\\").replace('"', "\\\"");
        return format!("attachment; filename=\"{escaped}\"");
    }
    let mut quoted = String::new();
    for b in filename.as_bytes() {
        let c = *b as char;
        if c.is_ascii_alphanumeric() || "_.-~/".contains(c) {
            quoted.push(c);
        } else {
            quoted.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename*=UTF-8''{quoted}")
}
