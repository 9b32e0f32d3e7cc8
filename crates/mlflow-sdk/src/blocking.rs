//! A blocking facade over [`crate::Client`], for synchronous programs (training loops, CLIs).
//!
//! Calls run on a small runtime owned by the SDK. They may also be made from inside an async
//! context (they then run on a scoped helper thread instead of panicking), though async code
//! should prefer [`crate::Client`].
//!
//! ```no_run
//! use mlflow_sdk::blocking::Client;
//! use mlflow_sdk::{CreateRun, RunStatus};
//! let client = Client::from_env()?;
//! let exp = client.get_or_create_experiment("demo")?;
//! let run = client.create_run(CreateRun::new(&exp))?;
//! client.log_metric(run.id(), "loss", 0.1, 0)?;
//! client.end_run(run.id(), RunStatus::Finished)?;
//! # Ok::<(), mlflow_sdk::Error>(())
//! ```

use crate::client::{CreateRun, SearchQuery};
use crate::config::ClientConfig;
use crate::error::Result;
use crate::logged_models::CreateLoggedModel;
use crate::prompts::{Prompt, PromptTemplate};
use crate::registry::CreateModelVersion;
use crate::types::*;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The SDK's runtime: one worker thread for background tasks; blocking calls drive their own
/// futures with `block_on`.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mlflow-sdk")
            .enable_all()
            .build()
            .expect("building the mlflow-sdk runtime")
    })
}

/// Runs `fut` to completion from synchronous code, even when called inside a runtime.
pub(crate) fn block_on<F: Future + Send>(fut: F) -> F::Output
where
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        // The helper thread keeps the caller's current span (prompt loads link to its trace).
        let span = tracing::Span::current();
        std::thread::scope(|s| {
            s.spawn(|| runtime().block_on(tracing::Instrument::instrument(fut, span)))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    } else {
        runtime().block_on(fut)
    }
}

/// The blocking client. Cheap to clone.
///
/// ```no_run
/// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
/// let client = mlflow_sdk::blocking::Client::from_env()?;
/// // Clones share the connection pool; hand one to a worker thread.
/// let worker = client.clone();
/// let handle = std::thread::spawn(move || worker.log_metric(run_id, "gpu_util", 0.93, 0));
/// handle.join().expect("worker thread")?;
/// # Ok::<(), mlflow_sdk::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: crate::Client,
}

macro_rules! wrap {
    ($( $(#[$m:meta])* fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        $(
            $(#[$m])*
            pub fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                block_on(self.inner.$name($($arg),*))
            }
        )*
    };
}

impl Client {
    /// A client for the server in `config`.
    ///
    /// ```
    /// use mlflow_sdk::ClientConfig;
    /// use mlflow_sdk::blocking::Client;
    /// let config = ClientConfig::new("http://localhost:5000").with_basic_auth("alice", "s3cr3t");
    /// let client = Client::new(config)?; // no request is made yet
    /// assert_eq!(client.as_async().tracking_uri(), "http://localhost:5000");
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn new(config: ClientConfig) -> Result<Self> {
        Ok(Client {
            inner: crate::Client::new(config)?,
        })
    }

    /// A client configured from the environment (see [`ClientConfig::from_env`]).
    ///
    /// ```
    /// // e.g. MLFLOW_TRACKING_URI=http://localhost:5000 MLFLOW_TRACKING_TOKEN=...
    /// let client = mlflow_sdk::blocking::Client::from_env()?;
    /// println!("tracking to {}", client.as_async().tracking_uri());
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn from_env() -> Result<Self> {
        Client::new(ClientConfig::from_env())
    }

    /// The async client underneath.
    ///
    /// ```
    /// let client = mlflow_sdk::blocking::Client::from_env()?;
    /// let async_client: mlflow_sdk::Client = client.as_async().clone(); // e.g. for a Tokio task
    /// println!("{}", async_client.tracking_uri());
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn as_async(&self) -> &crate::Client {
        &self.inner
    }

    /// Runs any async-client call synchronously.
    ///
    /// ```no_run
    /// let client = mlflow_sdk::blocking::Client::from_env()?;
    /// // Calls without a blocking wrapper run through `run`.
    /// client.run(|c| c.delete_experiment_tag("1", "owner"))?;
    /// let prompt = client.run(|c| c.load_prompt_version("qa", "2"))?;
    /// println!("{}", prompt.uri());
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn run<'a, T: Send, F: Future<Output = Result<T>> + Send + 'a>(
        &'a self,
        f: impl FnOnce(&'a crate::Client) -> F,
    ) -> Result<T> {
        block_on(f(&self.inner))
    }

    wrap! {
        /// See [`crate::Client::server_version`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// println!("MLflow {}", client.server_version()?);
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn server_version(&self) -> String;
        /// See [`crate::Client::create_experiment`].
        ///
        /// ```no_run
        /// use mlflow_sdk::Tag;
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let id = client.create_experiment("churn-model", None, &[Tag::new("team", "growth")])?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn create_experiment(&self, name: &str, artifact_location: Option<&str>, tags: &[Tag]) -> String;
        /// See [`crate::Client::get_experiment`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let exp = client.get_experiment("1")?;
        /// println!("{} ({})", exp.name, exp.lifecycle_stage);
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_experiment(&self, experiment_id: &str) -> Experiment;
        /// See [`crate::Client::get_experiment_by_name`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// if let Some(exp) = client.get_experiment_by_name("churn-model")? {
        ///     println!("id {}", exp.experiment_id);
        /// }
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_experiment_by_name(&self, name: &str) -> Option<Experiment>;
        /// See [`crate::Client::get_or_create_experiment`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let id = client.get_or_create_experiment("churn-model")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_or_create_experiment(&self, name: &str) -> String;
        /// See [`crate::Client::delete_experiment`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.delete_experiment("42")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn delete_experiment(&self, experiment_id: &str) -> ();
        /// See [`crate::Client::restore_experiment`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.restore_experiment("42")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn restore_experiment(&self, experiment_id: &str) -> ();
        /// See [`crate::Client::rename_experiment`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.rename_experiment("42", "churn-model-v2")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> ();
        /// See [`crate::Client::set_experiment_tag`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.set_experiment_tag("42", "owner", "growth-team")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn set_experiment_tag(&self, experiment_id: &str, key: &str, value: &str) -> ();
        /// See [`crate::Client::search_experiments_page`].
        ///
        /// ```no_run
        /// use mlflow_sdk::SearchQuery;
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let q = SearchQuery::new().filter("name LIKE 'churn%'");
        /// let page = client.search_experiments_page(&q)?;
        /// for exp in &page.items {
        ///     println!("{} {}", exp.experiment_id, exp.name);
        /// }
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn search_experiments_page(&self, q: &SearchQuery) -> Page<Experiment>;
        /// See [`crate::Client::create_run`].
        ///
        /// ```no_run
        /// use mlflow_sdk::CreateRun;
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let run = client.create_run(
        ///     CreateRun::new("1").name("baseline").tag("git_sha", "4f2a9c1"),
        /// )?;
        /// println!("run {}", run.id());
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn create_run(&self, req: CreateRun) -> Run;
        /// See [`crate::Client::get_run`].
        ///
        /// ```no_run
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let run = client.get_run(run_id)?;
        /// println!("{:?} loss={:?}", run.info.status, run.metric("loss"));
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_run(&self, run_id: &str) -> Run;
        /// See [`crate::Client::update_run`].
        ///
        /// ```no_run
        /// use mlflow_sdk::RunStatus;
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let end = Some(mlflow_sdk::now_ms());
        /// let info = client.update_run(run_id, Some(RunStatus::Killed), end, None)?;
        /// assert_eq!(info.status, RunStatus::Killed);
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn update_run(&self, run_id: &str, status: Option<RunStatus>, end_time: Option<i64>, run_name: Option<&str>) -> RunInfo;
        /// See [`crate::Client::end_run`].
        ///
        /// ```no_run
        /// use mlflow_sdk::RunStatus;
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.end_run(run_id, RunStatus::Finished)?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn end_run(&self, run_id: &str, status: RunStatus) -> RunInfo;
        /// See [`crate::Client::delete_run`].
        ///
        /// ```no_run
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.delete_run(run_id)?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn delete_run(&self, run_id: &str) -> ();
        /// See [`crate::Client::restore_run`].
        ///
        /// ```no_run
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.restore_run(run_id)?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn restore_run(&self, run_id: &str) -> ();
        /// See [`crate::Client::log_param`].
        ///
        /// ```no_run
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.log_param(run_id, "learning_rate", "0.001")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn log_param(&self, run_id: &str, key: &str, value: &str) -> ();
        /// See [`crate::Client::log_metric`].
        ///
        /// ```no_run
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// for step in 0..10 {
        ///     client.log_metric(run_id, "loss", 1.0 / (step + 1) as f64, step)?;
        /// }
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn log_metric(&self, run_id: &str, key: &str, value: f64, step: i64) -> ();
        /// See [`crate::Client::set_tag`].
        ///
        /// ```no_run
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.set_tag(run_id, "mlflow.note.content", "Baseline, default hyperparameters")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn set_tag(&self, run_id: &str, key: &str, value: &str) -> ();
        /// See [`crate::Client::delete_tag`].
        ///
        /// ```no_run
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.delete_tag(run_id, "candidate")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn delete_tag(&self, run_id: &str, key: &str) -> ();
        /// See [`crate::Client::log_batch`].
        ///
        /// ```no_run
        /// use mlflow_sdk::{Metric, Param, Tag};
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let metrics: Vec<Metric> = (0..3000)
        ///     .map(|s| Metric::new("loss", 1.0 / (s + 1) as f64, s))
        ///     .collect();
        /// let (params, tags) = ([Param::new("lr", "0.01")], [Tag::new("stage", "train")]);
        /// client.log_batch(run_id, &metrics, &params, &tags)?; // three log-batch calls
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn log_batch(&self, run_id: &str, metrics: &[Metric], params: &[Param], tags: &[Tag]) -> ();
        /// See [`crate::Client::search_runs_page`].
        ///
        /// ```no_run
        /// use mlflow_sdk::SearchQuery;
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let q = SearchQuery::new().filter("metrics.loss < 0.1").max_results(100);
        /// let page = client.search_runs_page(&["1".to_string()], &q)?;
        /// println!("{} runs, more: {}", page.items.len(), page.next_page_token.is_some());
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn search_runs_page(&self, experiment_ids: &[String], q: &SearchQuery) -> Page<Run>;
        /// See [`crate::Client::get_metric_history`].
        ///
        /// ```no_run
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let history = client.get_metric_history(run_id, "loss")?;
        /// let last = history.last().map(|m| m.value);
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_metric_history(&self, run_id: &str, key: &str) -> Vec<Metric>;
        /// See [`crate::Client::log_artifact`].
        ///
        /// ```no_run
        /// use std::path::Path;
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.log_artifact(run_id, Path::new("confusion_matrix.png"), Some("plots"))?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn log_artifact(&self, run_id: &str, local_file: &Path, artifact_path: Option<&str>) -> ();
        /// See [`crate::Client::log_artifacts`].
        ///
        /// ```no_run
        /// use std::path::Path;
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.log_artifacts(run_id, Path::new("outputs"), None)?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: Option<&str>) -> ();
        /// See [`crate::Client::log_text`].
        ///
        /// ```no_run
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.log_text(run_id, "epochs: 10\nlr: 0.01\n", "config/train.yaml")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn log_text(&self, run_id: &str, content: &str, artifact_file: &str) -> ();
        /// See [`crate::Client::list_artifacts`].
        ///
        /// ```no_run
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// for f in client.list_artifacts(run_id, Some("plots"))? {
        ///     println!("{} {:?}", f.path, f.file_size);
        /// }
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn list_artifacts(&self, run_id: &str, path: Option<&str>) -> Vec<FileInfo>;
        /// See [`crate::Client::download_artifacts`].
        ///
        /// ```no_run
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let local = client.download_artifacts(run_id, "model", &std::env::temp_dir())?;
        /// println!("downloaded to {}", local.display());
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn download_artifacts(&self, run_id: &str, path: &str, dst_dir: &Path) -> PathBuf;
        /// See [`crate::Client::create_registered_model`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let description = Some("Predicts 30-day churn");
        /// let model = client.create_registered_model("churn-classifier", &[], description)?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn create_registered_model(&self, name: &str, tags: &[Tag], description: Option<&str>) -> RegisteredModel;
        /// See [`crate::Client::get_registered_model`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let model = client.get_registered_model("churn-classifier")?;
        /// println!("{} versions shown", model.latest_versions.len());
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_registered_model(&self, name: &str) -> RegisteredModel;
        /// See [`crate::Client::delete_registered_model`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.delete_registered_model("churn-classifier-old")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn delete_registered_model(&self, name: &str) -> ();
        /// See [`crate::Client::create_model_version`].
        ///
        /// ```no_run
        /// use mlflow_sdk::CreateModelVersion;
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let run = client.get_run(run_id)?;
        /// let mv = client.create_model_version(CreateModelVersion {
        ///     name: "churn-classifier".into(),
        ///     source: format!("{}/model", run.info.artifact_uri),
        ///     run_id: Some(run_id.into()),
        ///     ..Default::default()
        /// })?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn create_model_version(&self, req: CreateModelVersion) -> ModelVersion;
        /// See [`crate::Client::get_model_version`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let mv = client.get_model_version("churn-classifier", "3")?;
        /// println!("{:?}", mv.status);
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_model_version(&self, name: &str, version: &str) -> ModelVersion;
        /// See [`crate::Client::set_registered_model_alias`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.set_registered_model_alias("churn-classifier", "champion", "3")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn set_registered_model_alias(&self, name: &str, alias: &str, version: &str) -> ();
        /// See [`crate::Client::get_model_version_by_alias`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let champion = client.get_model_version_by_alias("churn-classifier", "champion")?;
        /// println!("champion is version {}", champion.version);
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_model_version_by_alias(&self, name: &str, alias: &str) -> ModelVersion;
        /// See [`crate::Client::register_prompt`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let template = "Answer briefly: {{ question }}".into();
        /// let prompt = client.register_prompt("qa", template, Some("first draft"), &[])?;
        /// println!("{}", prompt.uri()); // prompts:/qa/1
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn register_prompt(&self, name: &str, template: PromptTemplate, commit_message: Option<&str>, tags: &[Tag]) -> Prompt;
        /// See [`crate::Client::load_prompt`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let prompt = client.load_prompt("prompts:/qa@production")?;
        /// let text = prompt.format(&[("question", "What is MLflow?")])?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn load_prompt(&self, uri: &str) -> Prompt;
        /// See [`crate::Client::set_prompt_alias`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.set_prompt_alias("qa", "production", "2")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn set_prompt_alias(&self, name: &str, alias: &str, version: &str) -> ();
        /// See [`crate::Client::create_logged_model`].
        ///
        /// ```no_run
        /// use mlflow_sdk::CreateLoggedModel;
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let model = client.create_logged_model(CreateLoggedModel {
        ///     experiment_id: "1".into(),
        ///     name: Some("support-agent".into()),
        ///     ..Default::default()
        /// })?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn create_logged_model(&self, req: CreateLoggedModel) -> LoggedModel;
        /// See [`crate::Client::get_logged_model`].
        ///
        /// ```no_run
        /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let model = client.get_logged_model(model_id)?;
        /// println!("{} {}", model.info.name, model.info.status);
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_logged_model(&self, model_id: &str) -> LoggedModel;
        /// See [`crate::Client::finalize_logged_model`].
        ///
        /// ```no_run
        /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.finalize_logged_model(model_id, "LOGGED_MODEL_READY")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn finalize_logged_model(&self, model_id: &str, status: &str) -> LoggedModel;
        /// See [`crate::Client::get_trace_info`].
        ///
        /// ```no_run
        /// # let trace_id = "tr-2c9d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let info = client.get_trace_info(trace_id)?;
        /// println!("{} took {:?}", info.state, info.execution_duration);
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_trace_info(&self, trace_id: &str) -> TraceInfo;
        /// See [`crate::Client::create_assessment`].
        ///
        /// ```no_run
        /// use mlflow_sdk::{Assessment, AssessmentSource};
        /// # let trace_id = "tr-2c9d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let source = AssessmentSource::human("alice");
        /// let feedback = Assessment::feedback(trace_id, "correctness", true.into(), source);
        /// let created = client.create_assessment(&feedback)?;
        /// println!("{:?}", created.assessment_id);
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn create_assessment(&self, assessment: &Assessment) -> Assessment;
        /// See [`crate::Client::get_assessment`].
        ///
        /// ```no_run
        /// # let trace_id = "tr-2c9d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let a = client.get_assessment(trace_id, "a-0f1e2d3c4b5a69788796a5b4c3d2e1f0")?;
        /// println!("{}: {:?}", a.assessment_name, a.feedback);
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_assessment(&self, trace_id: &str, assessment_id: &str) -> Assessment;
        /// See [`crate::Client::update_assessment`].
        ///
        /// ```no_run
        /// # let trace_id = "tr-2c9d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let mut a = client.get_assessment(trace_id, "a-0f1e2d3c4b5a69788796a5b4c3d2e1f0")?;
        /// a.rationale = Some("Checked against the source document".into());
        /// client.update_assessment(&a, "rationale")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn update_assessment(&self, assessment: &Assessment, update_mask: &str) -> Assessment;
        /// See [`crate::Client::delete_assessment`].
        ///
        /// ```no_run
        /// # let trace_id = "tr-2c9d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.delete_assessment(trace_id, "a-0f1e2d3c4b5a69788796a5b4c3d2e1f0")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn delete_assessment(&self, trace_id: &str, assessment_id: &str) -> ();
        /// See [`crate::Client::search_traces_page`].
        ///
        /// ```no_run
        /// use mlflow_sdk::SearchQuery;
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let q = SearchQuery::new().filter("trace.status = 'OK'").max_results(50);
        /// let page = client.search_traces_page(&["1".to_string()], &q)?;
        /// for t in &page.items {
        ///     println!("{} {:?}", t.trace_id, t.request_preview);
        /// }
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn search_traces_page(&self, experiment_ids: &[String], q: &SearchQuery) -> Page<TraceInfo>;
        /// See [`crate::Client::get_trace`].
        ///
        /// ```no_run
        /// # let trace_id = "tr-2c9d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let trace = client.get_trace(trace_id)?;
        /// let spans = trace["spans"].as_array().map_or(0, |s| s.len());
        /// println!("{spans} spans");
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_trace(&self, trace_id: &str) -> serde_json::Value;
        /// See [`crate::Client::set_trace_tag`].
        ///
        /// ```no_run
        /// # let trace_id = "tr-2c9d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.set_trace_tag(trace_id, "reviewed", "true")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn set_trace_tag(&self, trace_id: &str, key: &str, value: &str) -> ();
        /// See [`crate::Client::delete_trace_tag`].
        ///
        /// ```no_run
        /// # let trace_id = "tr-2c9d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.delete_trace_tag(trace_id, "reviewed")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn delete_trace_tag(&self, trace_id: &str, key: &str) -> ();
        /// See [`crate::Client::delete_traces`].
        ///
        /// ```no_run
        /// # let trace_id = "tr-2c9d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let deleted = client.delete_traces("1", &[trace_id.to_string()])?;
        /// assert_eq!(deleted, 1);
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn delete_traces(&self, experiment_id: &str, trace_ids: &[String]) -> i64;
        /// See [`crate::Client::link_traces_to_run`].
        ///
        /// ```no_run
        /// # let trace_id = "tr-2c9d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.link_traces_to_run(&[trace_id.to_string()], run_id)?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn link_traces_to_run(&self, trace_ids: &[String], run_id: &str) -> ();
        /// See [`crate::Client::link_prompts_to_trace`].
        ///
        /// ```no_run
        /// # let trace_id = "tr-2c9d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.link_prompts_to_trace(trace_id, &[("qa".into(), "2".into())])?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn link_prompts_to_trace(&self, trace_id: &str, prompts: &[(String, String)]) -> ();
        /// See [`crate::Client::rename_registered_model`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.rename_registered_model("churn-classifier", "churn-classifier-v2")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn rename_registered_model(&self, name: &str, new_name: &str) -> RegisteredModel;
        /// See [`crate::Client::update_registered_model`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let description = "Predicts 30-day churn from usage events";
        /// client.update_registered_model("churn-classifier", description)?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn update_registered_model(&self, name: &str, description: &str) -> RegisteredModel;
        /// See [`crate::Client::set_registered_model_tag`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.set_registered_model_tag("churn-classifier", "owner", "growth-team")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> ();
        /// See [`crate::Client::search_registered_models_page`].
        ///
        /// ```no_run
        /// use mlflow_sdk::SearchQuery;
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let q = SearchQuery::new().filter("name LIKE 'churn%'");
        /// let page = client.search_registered_models_page(&q)?;
        /// let names: Vec<&str> = page.items.iter().map(|m| m.name.as_str()).collect();
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn search_registered_models_page(&self, q: &SearchQuery) -> Page<RegisteredModel>;
        /// See [`crate::Client::update_model_version`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.update_model_version("churn-classifier", "3", "Retrained on June data")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn update_model_version(&self, name: &str, version: &str, description: &str) -> ModelVersion;
        /// See [`crate::Client::delete_model_version`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.delete_model_version("churn-classifier", "1")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn delete_model_version(&self, name: &str, version: &str) -> ();
        /// See [`crate::Client::set_model_version_tag`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.set_model_version_tag("churn-classifier", "3", "validation_status", "approved")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn set_model_version_tag(&self, name: &str, version: &str, key: &str, value: &str) -> ();
        /// See [`crate::Client::search_model_versions_page`].
        ///
        /// ```no_run
        /// use mlflow_sdk::SearchQuery;
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let q = SearchQuery::new().filter("name = 'churn-classifier'");
        /// let page = client.search_model_versions_page(&q)?;
        /// for mv in &page.items {
        ///     println!("v{} {:?}", mv.version, mv.aliases);
        /// }
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn search_model_versions_page(&self, q: &SearchQuery) -> Page<ModelVersion>;
        /// See [`crate::Client::delete_registered_model_alias`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.delete_registered_model_alias("churn-classifier", "challenger")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn delete_registered_model_alias(&self, name: &str, alias: &str) -> ();
        /// See [`crate::Client::delete_prompt_alias`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.delete_prompt_alias("qa", "staging")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn delete_prompt_alias(&self, name: &str, alias: &str) -> ();
        /// See [`crate::Client::search_prompts_page`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let page = client.search_prompts_page(Some("name LIKE 'qa%'"), None)?;
        /// for name in &page.items {
        ///     println!("{name}");
        /// }
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn search_prompts_page(&self, filter: Option<&str>, page_token: Option<String>) -> Page<String>;
        /// See [`crate::Client::set_logged_model_tags`].
        ///
        /// ```no_run
        /// use mlflow_sdk::Tag;
        /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.set_logged_model_tags(model_id, &[Tag::new("stage", "canary")])?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn set_logged_model_tags(&self, model_id: &str, tags: &[Tag]) -> ();
        /// See [`crate::Client::delete_logged_model`].
        ///
        /// ```no_run
        /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.delete_logged_model(model_id)?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn delete_logged_model(&self, model_id: &str) -> ();
        /// See [`crate::Client::search_logged_models_page`].
        ///
        /// ```no_run
        /// use mlflow_sdk::SearchQuery;
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let q = SearchQuery::new().order_by("creation_timestamp DESC").max_results(20);
        /// let page = client.search_logged_models_page(&["1".to_string()], &q)?;
        /// for m in &page.items {
        ///     println!("{} {}", m.info.model_id, m.info.status);
        /// }
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn search_logged_models_page(&self, experiment_ids: &[String], q: &SearchQuery) -> Page<LoggedModel>;
        /// See [`crate::Client::upload_artifact_to`].
        ///
        /// ```no_run
        /// use std::path::Path;
        /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let run = client.get_run(run_id)?;
        /// let uri = &run.info.artifact_uri;
        /// client.upload_artifact_to(uri, Path::new("out/weights.bin"), Some("model"))?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn upload_artifact_to(&self, artifact_uri: &str, local_file: &Path, artifact_path: Option<&str>) -> ();
        /// See [`crate::Client::upload_artifacts_to`].
        ///
        /// ```no_run
        /// use std::path::Path;
        /// # let model_id = "m-7f3a2b1c0d9e4f8a9b6c5d4e3f2a1b0c";
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let model = client.get_logged_model(model_id)?;
        /// client.upload_artifacts_to(&model.info.artifact_uri, Path::new("export"), None)?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn upload_artifacts_to(&self, artifact_uri: &str, local_dir: &Path, artifact_path: Option<&str>) -> ();
        /// See [`crate::Client::list_artifacts_at`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let uri = "mlflow-artifacts:/1/5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47/artifacts";
        /// let files = client.list_artifacts_at(uri, Some("model"))?;
        /// for f in &files {
        ///     println!("{} dir={}", f.path, f.is_dir);
        /// }
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn list_artifacts_at(&self, artifact_uri: &str, path: Option<&str>) -> Vec<FileInfo>;
        /// See [`crate::Client::download_artifacts_from`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let uri = "mlflow-artifacts:/1/5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47/artifacts";
        /// let local = client.download_artifacts_from(uri, "model", &std::env::temp_dir())?;
        /// println!("{}", local.display());
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn download_artifacts_from(&self, artifact_uri: &str, path: &str, dst_dir: &Path) -> PathBuf;
        /// See [`crate::Client::read_artifact`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let uri = "mlflow-artifacts:/1/5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47/artifacts";
        /// let bytes = client.read_artifact(uri, "config/train.yaml")?;
        /// println!("{}", String::from_utf8_lossy(&bytes));
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn read_artifact(&self, artifact_uri: &str, path: &str) -> bytes::Bytes;
        /// See [`crate::Client::create_webhook`].
        ///
        /// ```no_run
        /// use mlflow_sdk::{CreateWebhook, WebhookEvent};
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let hook = client.create_webhook(CreateWebhook::new("ci", "https://ci.example.com/hook", [WebhookEvent::model_version_created()]))?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn create_webhook(&self, req: crate::CreateWebhook) -> crate::Webhook;
        /// See [`crate::Client::get_webhook`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let hook = client.get_webhook("0b7c…")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn get_webhook(&self, webhook_id: &str) -> crate::Webhook;
        /// See [`crate::Client::list_webhooks_page`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let page = client.list_webhooks_page(Some(50), None)?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn list_webhooks_page(&self, max_results: Option<i64>, page_token: Option<String>) -> Page<crate::Webhook>;
        /// See [`crate::Client::update_webhook`].
        ///
        /// ```no_run
        /// use mlflow_sdk::{UpdateWebhook, WebhookStatus};
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.update_webhook("0b7c…", UpdateWebhook::new().status(WebhookStatus::Disabled))?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn update_webhook(&self, webhook_id: &str, req: crate::UpdateWebhook) -> crate::Webhook;
        /// See [`crate::Client::delete_webhook`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// client.delete_webhook("0b7c…")?;
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn delete_webhook(&self, webhook_id: &str) -> ();
        /// See [`crate::Client::test_webhook`].
        ///
        /// ```no_run
        /// let client = mlflow_sdk::blocking::Client::from_env()?;
        /// let result = client.test_webhook("0b7c…", None)?;
        /// println!("{}", result.success);
        /// # Ok::<(), mlflow_sdk::Error>(())
        /// ```
        fn test_webhook(&self, webhook_id: &str, event: Option<crate::WebhookEvent>) -> crate::WebhookTestResult;
    }

    /// Runs [`crate::evaluate::evaluate`] synchronously.
    ///
    /// ```no_run
    /// use mlflow_sdk::evaluate::{EvalRecord, Scorer};
    /// use serde_json::json;
    /// let client = mlflow_sdk::blocking::Client::from_env()?;
    /// let data = [EvalRecord::new(json!({"question": "2+2"})).expect(json!("4"))];
    /// let scorers = [Scorer::exact_match(), Scorer::latency()];
    /// let result = client.evaluate("1", &data, |_inputs| Ok(json!("4")), &scorers)?;
    /// println!("exact_match/mean = {}", result.metrics["exact_match/mean"]);
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn evaluate(
        &self,
        experiment_id: &str,
        data: &[crate::evaluate::EvalRecord],
        predict: impl Fn(&serde_json::Value) -> std::result::Result<serde_json::Value, String>
        + Send
        + Sync,
        scorers: &[crate::evaluate::Scorer],
    ) -> Result<crate::evaluate::EvalResult> {
        block_on(crate::evaluate::evaluate(
            &self.inner,
            experiment_id,
            data,
            predict,
            scorers,
        ))
    }

    /// All runs matching `q` (every page).
    ///
    /// ```no_run
    /// use mlflow_sdk::SearchQuery;
    /// let client = mlflow_sdk::blocking::Client::from_env()?;
    /// let q = SearchQuery::new().filter("metrics.loss < 0.1");
    /// let runs = client.search_runs(vec!["1".into()], q)?;
    /// for run in &runs {
    ///     println!("{} loss={:?}", run.id(), run.metric("loss"));
    /// }
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn search_runs(&self, experiment_ids: Vec<String>, q: SearchQuery) -> Result<Vec<Run>> {
        block_on(crate::Client::collect(
            self.inner.search_runs(experiment_ids, q),
        ))
    }

    /// All experiments matching `q` (every page).
    ///
    /// ```no_run
    /// use mlflow_sdk::SearchQuery;
    /// let client = mlflow_sdk::blocking::Client::from_env()?;
    /// let q = SearchQuery::new().filter("name LIKE 'churn%'");
    /// let experiments = client.search_experiments(q)?;
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn search_experiments(&self, q: SearchQuery) -> Result<Vec<Experiment>> {
        block_on(crate::Client::collect(self.inner.search_experiments(q)))
    }

    /// All webhooks (every page, `page_size` at a time; server default when `None`).
    ///
    /// ```no_run
    /// let client = mlflow_sdk::blocking::Client::from_env()?;
    /// for hook in client.list_webhooks(None)? {
    ///     println!("{} -> {}", hook.name, hook.url);
    /// }
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn list_webhooks(&self, page_size: Option<i64>) -> Result<Vec<crate::Webhook>> {
        block_on(crate::Client::collect(self.inner.list_webhooks(page_size)))
    }

    /// An iterator over the runs matching `q`, fetching one page at a time.
    ///
    /// ```no_run
    /// use mlflow_sdk::SearchQuery;
    /// let client = mlflow_sdk::blocking::Client::from_env()?;
    /// let q = SearchQuery::new().order_by("metrics.loss ASC").max_results(500);
    /// for run in client.iter_runs(vec!["1".into()], q).take(5) {
    ///     let run = run?;
    ///     println!("{} loss={:?}", run.id(), run.metric("loss"));
    /// }
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn iter_runs(
        &self,
        experiment_ids: Vec<String>,
        q: SearchQuery,
    ) -> impl Iterator<Item = Result<Run>> + '_ {
        let mut token = q.page_token.clone();
        let mut buf: std::vec::IntoIter<Run> = Vec::new().into_iter();
        let mut done = false;
        std::iter::from_fn(move || {
            loop {
                if let Some(r) = buf.next() {
                    return Some(Ok(r));
                }
                if done {
                    return None;
                }
                let mut q = q.clone();
                q.page_token = token.take();
                match self.search_runs_page(&experiment_ids, &q) {
                    Ok(page) => {
                        done = page.next_page_token.is_none();
                        token = page.next_page_token;
                        buf = page.items.into_iter();
                    }
                    Err(e) => {
                        done = true;
                        return Some(Err(e));
                    }
                }
            }
        })
    }
}

impl From<crate::Client> for Client {
    fn from(inner: crate::Client) -> Self {
        Client { inner }
    }
}
