//! Local and S3 round trips, path confinement (symlinks) and staged uploads.

use bytes::Bytes;
use futures::StreamExt;
use mlflow_artifacts::testing::S3Endpoint;
use mlflow_artifacts::{
    ArtifactRepo, Artifacts, ByteStream, Env, Fetched, FileInfo, RelPath, local::LocalRepo,
};
use mlflow_domain::ErrorCode;
use std::sync::Arc;

fn rel(p: &str) -> RelPath {
    RelPath::parse(p).expect("valid path")
}

fn body(chunks: Vec<Vec<u8>>) -> ByteStream {
    futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c)))).boxed()
}

async fn read_all(repo: &dyn ArtifactRepo, p: &str) -> Vec<u8> {
    match repo.get(&rel(p)).await.expect("get") {
        Fetched::File(mut d) => {
            let mut out = Vec::new();
            while let Some(c) = d.stream.next().await {
                out.extend_from_slice(&c.expect("chunk"));
            }
            if let Some(size) = d.size {
                assert_eq!(size as usize, out.len());
            }
            out
        }
        Fetched::Directory => panic!("{p} is a directory"),
    }
}

/// The shared contract, run against each backend.
async fn round_trip(repo: &dyn ArtifactRepo) {
    assert_eq!(
        repo.put(
            &rel("a/b/hello.txt"),
            body(vec![b"hel".to_vec(), b"lo".to_vec()])
        )
        .await
        .unwrap(),
        5
    );
    repo.put(&rel("a/top.bin"), body(vec![vec![7u8; 10]]))
        .await
        .unwrap();
    repo.put(&rel("empty.txt"), body(vec![])).await.unwrap();
    assert_eq!(read_all(repo, "a/b/hello.txt").await, b"hello");
    assert_eq!(read_all(repo, "empty.txt").await, b"");
    // Overwrite.
    repo.put(&rel("a/b/hello.txt"), body(vec![b"bye".to_vec()]))
        .await
        .unwrap();
    assert_eq!(read_all(repo, "a/b/hello.txt").await, b"bye");

    assert_eq!(
        repo.list(&RelPath::root()).await.unwrap(),
        vec![
            FileInfo {
                path: "a".into(),
                is_dir: true,
                file_size: None
            },
            FileInfo {
                path: "empty.txt".into(),
                is_dir: false,
                file_size: Some(0)
            },
        ]
    );
    assert_eq!(
        repo.list(&rel("a")).await.unwrap(),
        vec![
            FileInfo {
                path: "a/b".into(),
                is_dir: true,
                file_size: None
            },
            FileInfo {
                path: "a/top.bin".into(),
                is_dir: false,
                file_size: Some(10)
            },
        ]
    );
    // A file and a missing path list as empty.
    assert!(repo.list(&rel("a/top.bin")).await.unwrap().is_empty());
    assert!(repo.list(&rel("nope")).await.unwrap().is_empty());

    assert!(matches!(
        repo.get(&rel("a/b")).await.unwrap(),
        Fetched::Directory
    ));
    let e = repo.get(&rel("a/missing.txt")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ResourceDoesNotExist);
    assert_eq!(e.message, "No such artifact: 'a/missing.txt'");

    repo.delete(&rel("a/b/hello.txt")).await.unwrap();
    assert!(repo.get(&rel("a/b/hello.txt")).await.is_err());
    repo.delete(&rel("a")).await.unwrap();
    assert!(repo.list(&rel("a")).await.unwrap().is_empty());
    // Deleting what is not there is fine.
    repo.delete(&rel("a/zzz")).await.unwrap();
}

/// 20 MiB in 1 MiB chunks: multipart for object stores, buffered writes locally.
async fn large_round_trip(repo: &dyn ArtifactRepo) {
    let chunks: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 1024 * 1024]).collect();
    let expected: Vec<u8> = chunks.concat();
    let n = repo.put(&rel("big/data.bin"), body(chunks)).await.unwrap();
    assert_eq!(n, expected.len() as u64);
    let got = read_all(repo, "big/data.bin").await;
    assert!(got == expected, "large artifact content differs");
    let listing = repo.list(&rel("big")).await.unwrap();
    assert_eq!(listing[0].file_size, Some(expected.len() as u64));
}

#[tokio::test]
async fn local_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let repo = LocalRepo::new(&dir.path().to_string_lossy()).unwrap();
    round_trip(&repo).await;
    large_round_trip(&repo).await;
}

#[tokio::test]
async fn local_file_uri_root() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("file://{}", dir.path().display());
    let a = Artifacts::new(Some(&uri)).unwrap();
    let repo = a.destination().unwrap();
    repo.put(&rel("x.txt"), body(vec![b"1".to_vec()]))
        .await
        .unwrap();
    assert!(dir.path().join("x.txt").exists());
}

#[cfg(unix)]
#[tokio::test]
async fn local_symlink_escapes_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"secret").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("inner")).unwrap();
    std::fs::write(root.join("inner/ok.txt"), b"ok").unwrap();
    // A directory link and a file link pointing outside, and a harmless inside link.
    std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("s.txt")).unwrap();
    std::os::unix::fs::symlink(root.join("inner"), root.join("in")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/dangling", root.join("dangling")).unwrap();
    let repo = LocalRepo::new(&root.to_string_lossy()).unwrap();

    let refused = |e: mlflow_domain::Error| {
        assert_eq!(e.code, ErrorCode::InvalidParameterValue, "{}", e.message);
        assert!(e.message.starts_with("Invalid path"), "{}", e.message);
    };
    refused(repo.get(&rel("out/secret.txt")).await.unwrap_err());
    refused(repo.get(&rel("s.txt")).await.unwrap_err());
    refused(repo.list(&rel("out")).await.unwrap_err());
    refused(
        repo.put(&rel("out/new.txt"), body(vec![b"x".to_vec()]))
            .await
            .unwrap_err(),
    );
    refused(
        repo.put(&rel("out/deeper/new.txt"), body(vec![b"x".to_vec()]))
            .await
            .unwrap_err(),
    );
    refused(repo.delete(&rel("out")).await.unwrap_err());
    refused(repo.delete(&rel("out/secret.txt")).await.unwrap_err());
    refused(repo.get(&rel("dangling")).await.unwrap_err());
    assert!(!outside.path().join("new.txt").exists());
    assert!(!outside.path().join("deeper").exists());
    assert!(outside.path().join("secret.txt").exists());
    // Links that stay inside the root work.
    assert_eq!(read_all(&repo, "in/ok.txt").await, b"ok");
}

#[tokio::test]
async fn local_interrupted_upload_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = LocalRepo::new(&dir.path().to_string_lossy()).unwrap();
    // A body that fails half-way.
    let failing: ByteStream = futures::stream::iter(vec![
        Ok(Bytes::from(vec![1u8; 1000])),
        Err(std::io::Error::other("client went away")),
    ])
    .boxed();
    assert!(repo.put(&rel("d/partial.bin"), failing).await.is_err());
    let names: Vec<_> = std::fs::read_dir(dir.path().join("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");

    // A body that never ends, cancelled (the connection dropped): no partial file either.
    let endless: ByteStream = futures::stream::iter(vec![Ok(Bytes::from(vec![2u8; 1000]))])
        .chain(futures::stream::pending())
        .boxed();
    let target = rel("d/cancelled.bin");
    let put = repo.put(&target, endless);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), put)
            .await
            .is_err()
    );
    let names: Vec<_> = std::fs::read_dir(dir.path().join("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");

    // Staging names are reserved and hidden.
    let e = repo
        .put(&rel(".artifact.uploading.x"), body(vec![b"x".to_vec()]))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameterValue);
    std::fs::write(dir.path().join(".artifact.uploading.zzz"), b"x").unwrap();
    let listing = repo.list(&RelPath::root()).await.unwrap();
    assert!(
        listing
            .iter()
            .all(|f| !f.path.contains(".artifact.uploading."))
    );
}

#[tokio::test]
async fn in_memory_object_store_round_trip() {
    let store = Arc::new(object_store::memory::InMemory::new());
    let repo = mlflow_artifacts::object::ObjectStoreRepo::new("memory:///p", store, "p/q");
    round_trip(&repo).await;
    large_round_trip(&repo).await;
}

#[cfg(feature = "s3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_round_trip() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(s3) = tokio::task::spawn_blocking(S3Endpoint::get).await.unwrap() else {
        return;
    };
    s3.create_bucket("rt-bucket").unwrap();
    let mut env = Env::default();
    for (k, v) in s3.env() {
        env = env.with(k, v);
    }
    let a = Artifacts::with_env(Some("s3://rt-bucket/some/prefix"), env).unwrap();
    let repo = a.destination().unwrap();
    round_trip(repo.as_ref()).await;
    large_round_trip(repo.as_ref()).await;

    // An interrupted multipart upload never shows up under its name.
    let failing: ByteStream = futures::stream::iter(
        (0..10)
            .map(|_| Ok(Bytes::from(vec![3u8; 1024 * 1024])))
            .chain(std::iter::once(Err(std::io::Error::other("gone")))),
    )
    .boxed();
    assert!(repo.put(&rel("mp/partial.bin"), failing).await.is_err());
    assert!(repo.get(&rel("mp/partial.bin")).await.is_err());
    assert!(repo.list(&rel("mp")).await.unwrap().is_empty());

    // The bucket root as destination works too.
    let root = a.open("s3://rt-bucket").unwrap();
    let top = root.list(&RelPath::root()).await.unwrap();
    assert!(top.iter().any(|f| f.path == "some" && f.is_dir), "{top:?}");
}
