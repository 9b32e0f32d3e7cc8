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
    pub fn new(config: ClientConfig) -> Result<Self> {
        Ok(Client {
            inner: crate::Client::new(config)?,
        })
    }

    /// A client configured from the environment (see [`ClientConfig::from_env`]).
    pub fn from_env() -> Result<Self> {
        Client::new(ClientConfig::from_env())
    }

    /// The async client underneath.
    pub fn as_async(&self) -> &crate::Client {
        &self.inner
    }

    /// Runs any async-client call synchronously.
    pub fn run<'a, T: Send, F: Future<Output = Result<T>> + Send + 'a>(
        &'a self,
        f: impl FnOnce(&'a crate::Client) -> F,
    ) -> Result<T> {
        block_on(f(&self.inner))
    }

    wrap! {
        /// See [`crate::Client::server_version`].
        fn server_version(&self) -> String;
        /// See [`crate::Client::create_experiment`].
        fn create_experiment(&self, name: &str, artifact_location: Option<&str>, tags: &[Tag]) -> String;
        /// See [`crate::Client::get_experiment`].
        fn get_experiment(&self, experiment_id: &str) -> Experiment;
        /// See [`crate::Client::get_experiment_by_name`].
        fn get_experiment_by_name(&self, name: &str) -> Option<Experiment>;
        /// See [`crate::Client::get_or_create_experiment`].
        fn get_or_create_experiment(&self, name: &str) -> String;
        /// See [`crate::Client::delete_experiment`].
        fn delete_experiment(&self, experiment_id: &str) -> ();
        /// See [`crate::Client::restore_experiment`].
        fn restore_experiment(&self, experiment_id: &str) -> ();
        /// See [`crate::Client::rename_experiment`].
        fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> ();
        /// See [`crate::Client::set_experiment_tag`].
        fn set_experiment_tag(&self, experiment_id: &str, key: &str, value: &str) -> ();
        /// See [`crate::Client::search_experiments_page`].
        fn search_experiments_page(&self, q: &SearchQuery) -> Page<Experiment>;
        /// See [`crate::Client::create_run`].
        fn create_run(&self, req: CreateRun) -> Run;
        /// See [`crate::Client::get_run`].
        fn get_run(&self, run_id: &str) -> Run;
        /// See [`crate::Client::update_run`].
        fn update_run(&self, run_id: &str, status: Option<RunStatus>, end_time: Option<i64>, run_name: Option<&str>) -> RunInfo;
        /// See [`crate::Client::end_run`].
        fn end_run(&self, run_id: &str, status: RunStatus) -> RunInfo;
        /// See [`crate::Client::delete_run`].
        fn delete_run(&self, run_id: &str) -> ();
        /// See [`crate::Client::restore_run`].
        fn restore_run(&self, run_id: &str) -> ();
        /// See [`crate::Client::log_param`].
        fn log_param(&self, run_id: &str, key: &str, value: &str) -> ();
        /// See [`crate::Client::log_metric`].
        fn log_metric(&self, run_id: &str, key: &str, value: f64, step: i64) -> ();
        /// See [`crate::Client::set_tag`].
        fn set_tag(&self, run_id: &str, key: &str, value: &str) -> ();
        /// See [`crate::Client::delete_tag`].
        fn delete_tag(&self, run_id: &str, key: &str) -> ();
        /// See [`crate::Client::log_batch`].
        fn log_batch(&self, run_id: &str, metrics: &[Metric], params: &[Param], tags: &[Tag]) -> ();
        /// See [`crate::Client::search_runs_page`].
        fn search_runs_page(&self, experiment_ids: &[String], q: &SearchQuery) -> Page<Run>;
        /// See [`crate::Client::get_metric_history`].
        fn get_metric_history(&self, run_id: &str, key: &str) -> Vec<Metric>;
        /// See [`crate::Client::log_artifact`].
        fn log_artifact(&self, run_id: &str, local_file: &Path, artifact_path: Option<&str>) -> ();
        /// See [`crate::Client::log_artifacts`].
        fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: Option<&str>) -> ();
        /// See [`crate::Client::log_text`].
        fn log_text(&self, run_id: &str, content: &str, artifact_file: &str) -> ();
        /// See [`crate::Client::list_artifacts`].
        fn list_artifacts(&self, run_id: &str, path: Option<&str>) -> Vec<FileInfo>;
        /// See [`crate::Client::download_artifacts`].
        fn download_artifacts(&self, run_id: &str, path: &str, dst_dir: &Path) -> PathBuf;
        /// See [`crate::Client::create_registered_model`].
        fn create_registered_model(&self, name: &str, tags: &[Tag], description: Option<&str>) -> RegisteredModel;
        /// See [`crate::Client::get_registered_model`].
        fn get_registered_model(&self, name: &str) -> RegisteredModel;
        /// See [`crate::Client::delete_registered_model`].
        fn delete_registered_model(&self, name: &str) -> ();
        /// See [`crate::Client::create_model_version`].
        fn create_model_version(&self, req: CreateModelVersion) -> ModelVersion;
        /// See [`crate::Client::get_model_version`].
        fn get_model_version(&self, name: &str, version: &str) -> ModelVersion;
        /// See [`crate::Client::set_registered_model_alias`].
        fn set_registered_model_alias(&self, name: &str, alias: &str, version: &str) -> ();
        /// See [`crate::Client::get_model_version_by_alias`].
        fn get_model_version_by_alias(&self, name: &str, alias: &str) -> ModelVersion;
        /// See [`crate::Client::register_prompt`].
        fn register_prompt(&self, name: &str, template: PromptTemplate, commit_message: Option<&str>, tags: &[Tag]) -> Prompt;
        /// See [`crate::Client::load_prompt`].
        fn load_prompt(&self, uri: &str) -> Prompt;
        /// See [`crate::Client::set_prompt_alias`].
        fn set_prompt_alias(&self, name: &str, alias: &str, version: &str) -> ();
        /// See [`crate::Client::create_logged_model`].
        fn create_logged_model(&self, req: CreateLoggedModel) -> LoggedModel;
        /// See [`crate::Client::get_logged_model`].
        fn get_logged_model(&self, model_id: &str) -> LoggedModel;
        /// See [`crate::Client::finalize_logged_model`].
        fn finalize_logged_model(&self, model_id: &str, status: &str) -> LoggedModel;
        /// See [`crate::Client::get_trace_info`].
        fn get_trace_info(&self, trace_id: &str) -> TraceInfo;
        /// See [`crate::Client::create_assessment`].
        fn create_assessment(&self, assessment: &Assessment) -> Assessment;
        /// See [`crate::Client::get_assessment`].
        fn get_assessment(&self, trace_id: &str, assessment_id: &str) -> Assessment;
        /// See [`crate::Client::update_assessment`].
        fn update_assessment(&self, assessment: &Assessment, update_mask: &str) -> Assessment;
        /// See [`crate::Client::delete_assessment`].
        fn delete_assessment(&self, trace_id: &str, assessment_id: &str) -> ();
        /// See [`crate::Client::search_traces_page`].
        fn search_traces_page(&self, experiment_ids: &[String], q: &SearchQuery) -> Page<TraceInfo>;
        /// See [`crate::Client::get_trace`].
        fn get_trace(&self, trace_id: &str) -> serde_json::Value;
        /// See [`crate::Client::set_trace_tag`].
        fn set_trace_tag(&self, trace_id: &str, key: &str, value: &str) -> ();
        /// See [`crate::Client::delete_trace_tag`].
        fn delete_trace_tag(&self, trace_id: &str, key: &str) -> ();
        /// See [`crate::Client::delete_traces`].
        fn delete_traces(&self, experiment_id: &str, trace_ids: &[String]) -> i64;
        /// See [`crate::Client::link_traces_to_run`].
        fn link_traces_to_run(&self, trace_ids: &[String], run_id: &str) -> ();
        /// See [`crate::Client::link_prompts_to_trace`].
        fn link_prompts_to_trace(&self, trace_id: &str, prompts: &[(String, String)]) -> ();
        /// See [`crate::Client::rename_registered_model`].
        fn rename_registered_model(&self, name: &str, new_name: &str) -> RegisteredModel;
        /// See [`crate::Client::update_registered_model`].
        fn update_registered_model(&self, name: &str, description: &str) -> RegisteredModel;
        /// See [`crate::Client::set_registered_model_tag`].
        fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> ();
        /// See [`crate::Client::search_registered_models_page`].
        fn search_registered_models_page(&self, q: &SearchQuery) -> Page<RegisteredModel>;
        /// See [`crate::Client::update_model_version`].
        fn update_model_version(&self, name: &str, version: &str, description: &str) -> ModelVersion;
        /// See [`crate::Client::delete_model_version`].
        fn delete_model_version(&self, name: &str, version: &str) -> ();
        /// See [`crate::Client::set_model_version_tag`].
        fn set_model_version_tag(&self, name: &str, version: &str, key: &str, value: &str) -> ();
        /// See [`crate::Client::search_model_versions_page`].
        fn search_model_versions_page(&self, q: &SearchQuery) -> Page<ModelVersion>;
        /// See [`crate::Client::delete_registered_model_alias`].
        fn delete_registered_model_alias(&self, name: &str, alias: &str) -> ();
        /// See [`crate::Client::delete_prompt_alias`].
        fn delete_prompt_alias(&self, name: &str, alias: &str) -> ();
        /// See [`crate::Client::search_prompts_page`].
        fn search_prompts_page(&self, filter: Option<&str>, page_token: Option<String>) -> Page<String>;
        /// See [`crate::Client::set_logged_model_tags`].
        fn set_logged_model_tags(&self, model_id: &str, tags: &[Tag]) -> ();
        /// See [`crate::Client::delete_logged_model`].
        fn delete_logged_model(&self, model_id: &str) -> ();
        /// See [`crate::Client::search_logged_models_page`].
        fn search_logged_models_page(&self, experiment_ids: &[String], q: &SearchQuery) -> Page<LoggedModel>;
        /// See [`crate::Client::upload_artifact_to`].
        fn upload_artifact_to(&self, artifact_uri: &str, local_file: &Path, artifact_path: Option<&str>) -> ();
        /// See [`crate::Client::upload_artifacts_to`].
        fn upload_artifacts_to(&self, artifact_uri: &str, local_dir: &Path, artifact_path: Option<&str>) -> ();
        /// See [`crate::Client::list_artifacts_at`].
        fn list_artifacts_at(&self, artifact_uri: &str, path: Option<&str>) -> Vec<FileInfo>;
        /// See [`crate::Client::download_artifacts_from`].
        fn download_artifacts_from(&self, artifact_uri: &str, path: &str, dst_dir: &Path) -> PathBuf;
        /// See [`crate::Client::read_artifact`].
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
    pub fn search_runs(&self, experiment_ids: Vec<String>, q: SearchQuery) -> Result<Vec<Run>> {
        block_on(crate::Client::collect(
            self.inner.search_runs(experiment_ids, q),
        ))
    }

    /// All experiments matching `q` (every page).
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
