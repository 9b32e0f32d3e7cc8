//! The async client: one method per REST call, plus paging streams.

use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::http::Transport;
use crate::types::*;
use futures::{Stream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;

/// Limits of one `runs/log-batch` call (the server's `MAX_METRICS_PER_BATCH` etc.).
///
/// ```
/// use mlflow_sdk::MAX_METRICS_PER_BATCH;
/// // `Client::log_batch` sends 2500 metrics in three calls.
/// assert_eq!(2500usize.div_ceil(MAX_METRICS_PER_BATCH), 3);
/// ```
pub const MAX_METRICS_PER_BATCH: usize = 1000;
/// Params per `log-batch`.
///
/// ```
/// use mlflow_sdk::{MAX_PARAMS_PER_BATCH, Param};
/// let params: Vec<Param> = (0..250).map(|i| Param::new(format!("feature_{i}"), "on")).collect();
/// assert_eq!(params.chunks(MAX_PARAMS_PER_BATCH).count(), 3);
/// ```
pub const MAX_PARAMS_PER_BATCH: usize = 100;
/// Tags per `log-batch`.
///
/// ```
/// use mlflow_sdk::{MAX_TAGS_PER_BATCH, Tag};
/// let tags: Vec<Tag> = (0..150).map(|i| Tag::new(format!("label_{i}"), "x")).collect();
/// assert_eq!(tags.chunks(MAX_TAGS_PER_BATCH).count(), 2);
/// ```
pub const MAX_TAGS_PER_BATCH: usize = 100;
/// Entities (metrics + params + tags) per `log-batch`.
///
/// ```
/// use mlflow_sdk::{MAX_ENTITIES_PER_BATCH, MAX_PARAMS_PER_BATCH, MAX_TAGS_PER_BATCH};
/// // A call that carries the maximum of params and tags has room for 800 metrics.
/// let room = MAX_ENTITIES_PER_BATCH - MAX_PARAMS_PER_BATCH - MAX_TAGS_PER_BATCH;
/// assert_eq!(room, 800);
/// ```
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;

/// An async MLflow client. Cheap to clone (the connection pool is shared).
///
/// ```no_run
/// # async fn demo() -> mlflow_sdk::Result<()> {
/// use mlflow_sdk::{Client, CreateRun};
/// let client = Client::from_env()?;
/// let exp = client.get_or_create_experiment("demo").await?;
/// let run = client.create_run(CreateRun::new(&exp)).await?;
/// client.log_metric(run.id(), "loss", 0.5, 0).await?;
/// client.end_run(run.id(), mlflow_sdk::RunStatus::Finished).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) t: Arc<Transport>,
}

/// Parameters of [`Client::create_run`].
///
/// ```
/// use mlflow_sdk::CreateRun;
/// let req = CreateRun::new("1").name("baseline").tag("git_sha", "4f2a9c1");
/// assert_eq!(req.experiment_id, "1");
/// assert_eq!(req.run_name.as_deref(), Some("baseline"));
/// assert!(req.parent_run_id.is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct CreateRun {
    /// Experiment to create the run in.
    pub experiment_id: String,
    /// Display name (the server picks one when absent).
    pub run_name: Option<String>,
    /// Epoch ms; now when absent.
    pub start_time: Option<i64>,
    /// Initial tags.
    pub tags: Vec<Tag>,
    /// Sets `mlflow.parentRunId`, making this a nested run.
    pub parent_run_id: Option<String>,
}

impl CreateRun {
    /// A run in `experiment_id`.
    ///
    /// ```
    /// use mlflow_sdk::CreateRun;
    /// let req = CreateRun::new("1");
    /// assert!(req.run_name.is_none() && req.tags.is_empty() && req.start_time.is_none());
    /// ```
    pub fn new(experiment_id: impl Into<String>) -> Self {
        CreateRun {
            experiment_id: experiment_id.into(),
            ..Default::default()
        }
    }
    /// Sets the run name.
    ///
    /// ```
    /// use mlflow_sdk::CreateRun;
    /// let req = CreateRun::new("1").name("lr-0.01-bs-64");
    /// assert_eq!(req.run_name.as_deref(), Some("lr-0.01-bs-64"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.run_name = Some(name.into());
        self
    }
    /// Adds a tag.
    ///
    /// ```
    /// use mlflow_sdk::CreateRun;
    /// let req = CreateRun::new("1").tag("team", "search").tag("dataset", "clicks-2024-06");
    /// assert_eq!(req.tags.len(), 2);
    /// assert_eq!((req.tags[0].key.as_str(), req.tags[0].value.as_str()), ("team", "search"));
    /// ```
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push(Tag::new(key, value));
        self
    }
    /// Makes it a child of `parent_run_id`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::CreateRun;
    /// let sweep = client.create_run(CreateRun::new("1").name("lr-sweep")).await?;
    /// let child = client
    ///     .create_run(CreateRun::new("1").name("lr=0.01").parent(sweep.id()))
    ///     .await?;
    /// assert_eq!(child.tag("mlflow.parentRunId"), Some(sweep.id()));
    /// # Ok(()) }
    /// ```
    pub fn parent(mut self, parent_run_id: impl Into<String>) -> Self {
        self.parent_run_id = Some(parent_run_id.into());
        self
    }
}

/// Parameters of a search (runs, experiments, models, …). Unset fields use server defaults.
///
/// ```
/// use mlflow_sdk::{SearchQuery, ViewType};
/// let q = SearchQuery::new()
///     .filter("metrics.loss < 0.1 AND params.lr = '0.01'")
///     .order_by("metrics.loss ASC")
///     .max_results(50)
///     .view_type(ViewType::All);
/// assert_eq!(q.order_by, ["metrics.loss ASC"]);
/// assert!(q.page_token.is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    /// Filter, e.g. `metrics.loss < 0.1 AND params.lr = '0.01'`.
    pub filter: Option<String>,
    /// Order, e.g. `["metrics.loss ASC"]`.
    pub order_by: Vec<String>,
    /// Page size.
    pub max_results: Option<i64>,
    /// Lifecycle filter (runs and experiments).
    pub view_type: ViewType,
    /// Token of the page to fetch.
    pub page_token: Option<String>,
}

impl SearchQuery {
    /// An unfiltered search.
    ///
    /// ```
    /// use mlflow_sdk::{SearchQuery, ViewType};
    /// let q = SearchQuery::new();
    /// assert!(q.filter.is_none() && q.order_by.is_empty() && q.max_results.is_none());
    /// assert_eq!(q.view_type, ViewType::ActiveOnly);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the filter.
    ///
    /// ```
    /// use mlflow_sdk::SearchQuery;
    /// let q = SearchQuery::new().filter("params.optimizer = 'adam'");
    /// assert_eq!(q.filter.as_deref(), Some("params.optimizer = 'adam'"));
    /// ```
    pub fn filter(mut self, f: impl Into<String>) -> Self {
        self.filter = Some(f.into());
        self
    }
    /// Adds an order-by clause.
    ///
    /// ```
    /// use mlflow_sdk::SearchQuery;
    /// let q = SearchQuery::new().order_by("metrics.loss ASC").order_by("start_time DESC");
    /// assert_eq!(q.order_by, ["metrics.loss ASC", "start_time DESC"]);
    /// ```
    pub fn order_by(mut self, o: impl Into<String>) -> Self {
        self.order_by.push(o.into());
        self
    }
    /// Sets the page size.
    ///
    /// ```
    /// use mlflow_sdk::SearchQuery;
    /// assert_eq!(SearchQuery::new().max_results(100).max_results, Some(100));
    /// ```
    pub fn max_results(mut self, n: i64) -> Self {
        self.max_results = Some(n);
        self
    }
    /// Sets the view type.
    ///
    /// ```
    /// use mlflow_sdk::{SearchQuery, ViewType};
    /// let q = SearchQuery::new().view_type(ViewType::DeletedOnly);
    /// assert_eq!(q.view_type, ViewType::DeletedOnly);
    /// ```
    pub fn view_type(mut self, v: ViewType) -> Self {
        self.view_type = v;
        self
    }
}

fn opt_token(t: Option<String>) -> Option<String> {
    t.filter(|s| !s.is_empty())
}

/// Turns a page-fetching function into a stream of items that follows `next_page_token`.
pub(crate) fn paginate<T, F, Fut>(
    mut fetch: F,
    first: Option<String>,
) -> impl Stream<Item = Result<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    futures::stream::try_unfold(Some(first), move |state| {
        let fut = state.map(&mut fetch);
        async move {
            match fut {
                None => Ok(None),
                Some(fut) => {
                    let page = fut.await?;
                    let next = opt_token(page.next_page_token).map(Some);
                    Ok(Some((page.items, next)))
                }
            }
        }
    })
    .map_ok(|items| futures::stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RunResp {
    run: Run,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ExperimentResp {
    experiment: Experiment,
}

impl Client {
    /// A client for the server in `config`.
    ///
    /// ```
    /// use mlflow_sdk::{Client, ClientConfig};
    /// let config = ClientConfig::new("https://mlflow.example.com").with_token("my-token");
    /// let client = Client::new(config)?; // no request is made yet
    /// assert_eq!(client.tracking_uri(), "https://mlflow.example.com");
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn new(config: ClientConfig) -> Result<Self> {
        Ok(Client {
            t: Arc::new(Transport::new(config)?),
        })
    }

    /// A client configured from `MLFLOW_TRACKING_URI` and friends (see [`ClientConfig::from_env`]).
    ///
    /// ```
    /// // e.g. MLFLOW_TRACKING_URI=http://localhost:5000 MLFLOW_TRACKING_TOKEN=...
    /// let client = mlflow_sdk::Client::from_env()?;
    /// println!("tracking to {}", client.tracking_uri());
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn from_env() -> Result<Self> {
        Client::new(ClientConfig::from_env())
    }

    /// The configuration in use.
    ///
    /// ```
    /// use mlflow_sdk::{Client, ClientConfig};
    /// let client = Client::new(ClientConfig::new("http://localhost:5000").with_max_retries(2))?;
    /// assert_eq!(client.config().max_retries, 2);
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn config(&self) -> &ClientConfig {
        &self.t.cfg
    }

    /// The server's base URL.
    ///
    /// ```
    /// use mlflow_sdk::{Client, ClientConfig};
    /// let client = Client::new(ClientConfig::new("http://localhost:5000/"))?;
    /// assert_eq!(client.tracking_uri(), "http://localhost:5000"); // trailing slash dropped
    /// # Ok::<(), mlflow_sdk::Error>(())
    /// ```
    pub fn tracking_uri(&self) -> &str {
        &self.t.cfg.tracking_uri
    }

    pub(crate) async fn get<R: DeserializeOwned>(&self, path: &str, q: Value) -> Result<R> {
        self.t.call(Method::GET, path, &q).await
    }
    pub(crate) async fn post<R: DeserializeOwned>(&self, path: &str, b: Value) -> Result<R> {
        self.t.call(Method::POST, path, &b).await
    }
    pub(crate) async fn patch<R: DeserializeOwned>(&self, path: &str, b: Value) -> Result<R> {
        self.t.call(Method::PATCH, path, &b).await
    }
    pub(crate) async fn delete<R: DeserializeOwned>(&self, path: &str, b: Value) -> Result<R> {
        self.t.call(Method::DELETE, path, &b).await
    }

    /// `GET /version`: the server's MLflow version string.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let version = client.server_version().await?; // e.g. "3.1.0"
    /// println!("MLflow {version}");
    /// # Ok(()) }
    /// ```
    pub async fn server_version(&self) -> Result<String> {
        let url = self.t.url("/version");
        let resp = self
            .t
            .send(&url, || async { Ok(self.t.request(Method::GET, &url)) })
            .await?;
        let text = resp.text().await.map_err(|e| Error::Http {
            url: url.clone(),
            source: e,
        })?;
        Ok(text.trim().to_string())
    }

    // ---------------------------------------------------------------- experiments

    /// Creates an experiment and returns its id.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::Tag;
    /// let id = client
    ///     .create_experiment("churn-model", None, &[Tag::new("team", "growth")])
    ///     .await?;
    /// println!("created experiment {id}");
    /// # Ok(()) }
    /// ```
    pub async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[Tag],
    ) -> Result<String> {
        #[derive(Deserialize)]
        struct R {
            experiment_id: String,
        }
        let mut body = json!({"name": name});
        if let Some(loc) = artifact_location {
            body["artifact_location"] = json!(loc);
        }
        if !tags.is_empty() {
            body["tags"] = json!(tags);
        }
        let r: R = self
            .post("/api/2.0/mlflow/experiments/create", body)
            .await?;
        Ok(r.experiment_id)
    }

    /// Fetches an experiment by id.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let exp = client.get_experiment("1").await?;
    /// println!("{} ({}) at {}", exp.name, exp.lifecycle_stage, exp.artifact_location);
    /// # Ok(()) }
    /// ```
    pub async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        let r: ExperimentResp = self
            .get(
                "/api/2.0/mlflow/experiments/get",
                json!({"experiment_id": experiment_id}),
            )
            .await?;
        Ok(r.experiment)
    }

    /// Fetches an experiment by name; `None` when it does not exist.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// match client.get_experiment_by_name("churn-model").await? {
    ///     Some(exp) => println!("id {}", exp.experiment_id),
    ///     None => println!("no such experiment"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        match self
            .get::<ExperimentResp>(
                "/api/2.0/mlflow/experiments/get-by-name",
                json!({"experiment_name": name}),
            )
            .await
        {
            Ok(r) => Ok(Some(r.experiment)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Returns the id of the active experiment `name`, creating it if needed (like
    /// `mlflow.set_experiment`). A deleted experiment of that name is an error, as in Python.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let id = client.get_or_create_experiment("churn-model").await?;
    /// assert_eq!(client.get_or_create_experiment("churn-model").await?, id); // same id again
    /// # Ok(()) }
    /// ```
    pub async fn get_or_create_experiment(&self, name: &str) -> Result<String> {
        if let Some(exp) = self.get_experiment_by_name(name).await? {
            if exp.lifecycle_stage == "deleted" {
                return Err(Error::invalid(format!(
                    "Cannot set a deleted experiment '{name}' as the active experiment. You can \
                     restore the experiment, or permanently delete the experiment to create a new \
                     one."
                )));
            }
            return Ok(exp.experiment_id);
        }
        match self.create_experiment(name, None, &[]).await {
            Ok(id) => Ok(id),
            // Lost a race with another creator.
            Err(e) if e.error_code() == Some("RESOURCE_ALREADY_EXISTS") => self
                .get_experiment_by_name(name)
                .await?
                .map(|e| e.experiment_id)
                .ok_or(e),
            Err(e) => Err(e),
        }
    }

    /// Marks an experiment deleted.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// let id = client.get_or_create_experiment("scratch").await?;
    /// client.delete_experiment(&id).await?;
    /// assert_eq!(client.get_experiment(&id).await?.lifecycle_stage, "deleted");
    /// # Ok(()) }
    /// ```
    pub async fn delete_experiment(&self, experiment_id: &str) -> Result<()> {
        let _: Value = self
            .post(
                "/api/2.0/mlflow/experiments/delete",
                json!({"experiment_id": experiment_id}),
            )
            .await?;
        Ok(())
    }

    /// Restores a deleted experiment.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client.restore_experiment("42").await?;
    /// assert_eq!(client.get_experiment("42").await?.lifecycle_stage, "active");
    /// # Ok(()) }
    /// ```
    pub async fn restore_experiment(&self, experiment_id: &str) -> Result<()> {
        let _: Value = self
            .post(
                "/api/2.0/mlflow/experiments/restore",
                json!({"experiment_id": experiment_id}),
            )
            .await?;
        Ok(())
    }

    /// Renames an experiment.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client.rename_experiment("42", "churn-model-v2").await?;
    /// # Ok(()) }
    /// ```
    pub async fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> Result<()> {
        let _: Value = self
            .post(
                "/api/2.0/mlflow/experiments/update",
                json!({"experiment_id": experiment_id, "new_name": new_name}),
            )
            .await?;
        Ok(())
    }

    /// Sets an experiment tag.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client.set_experiment_tag("42", "owner", "growth-team").await?;
    /// let exp = client.get_experiment("42").await?;
    /// assert_eq!(exp.tag("owner"), Some("growth-team"));
    /// # Ok(()) }
    /// ```
    pub async fn set_experiment_tag(
        &self,
        experiment_id: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        let _: Value = self
            .post(
                "/api/2.0/mlflow/experiments/set-experiment-tag",
                json!({"experiment_id": experiment_id, "key": key, "value": value}),
            )
            .await?;
        Ok(())
    }

    /// Deletes an experiment tag.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// client.delete_experiment_tag("42", "owner").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()> {
        let _: Value = self
            .post(
                "/api/2.0/mlflow/experiments/delete-experiment-tag",
                json!({"experiment_id": experiment_id, "key": key}),
            )
            .await?;
        Ok(())
    }

    /// One page of `experiments/search`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::SearchQuery;
    /// let mut q = SearchQuery::new().filter("name LIKE 'churn%'").max_results(50);
    /// loop {
    ///     let page = client.search_experiments_page(&q).await?;
    ///     for exp in &page.items {
    ///         println!("{} {}", exp.experiment_id, exp.name);
    ///     }
    ///     match page.next_page_token {
    ///         Some(token) => q.page_token = Some(token),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn search_experiments_page(&self, q: &SearchQuery) -> Result<Page<Experiment>> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            experiments: Vec<Experiment>,
            next_page_token: Option<String>,
        }
        // The official client always sends max_results (the server rejects 0).
        let mut body =
            json!({"view_type": q.view_type, "max_results": q.max_results.unwrap_or(1000)});
        if let Some(f) = &q.filter {
            body["filter"] = json!(f);
        }
        if !q.order_by.is_empty() {
            body["order_by"] = json!(q.order_by);
        }
        if let Some(t) = &q.page_token {
            body["page_token"] = json!(t);
        }
        let r: R = self
            .post("/api/2.0/mlflow/experiments/search", body)
            .await?;
        Ok(Page {
            items: r.experiments,
            next_page_token: opt_token(r.next_page_token),
        })
    }

    /// All experiments matching `q`, following page tokens lazily.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use futures::TryStreamExt;
    /// use mlflow_sdk::SearchQuery;
    /// let names: Vec<String> = client
    ///     .search_experiments(SearchQuery::new().order_by("creation_time DESC"))
    ///     .map_ok(|exp| exp.name)
    ///     .try_collect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn search_experiments(
        &self,
        q: SearchQuery,
    ) -> impl Stream<Item = Result<Experiment>> + '_ {
        let first = q.page_token.clone();
        paginate(
            move |token| {
                let mut q = q.clone();
                q.page_token = token;
                async move { self.search_experiments_page(&q).await }
            },
            first,
        )
    }

    // ---------------------------------------------------------------- runs

    /// Creates a run. Adds `mlflow.runName`, `mlflow.user` (from `$USER`), the source tags
    /// (`mlflow.source.*`, git commit/branch/repo URL from [`crate::git_metadata`]) and, for
    /// nested runs, `mlflow.parentRunId`, as the Python client does.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::CreateRun;
    /// let run = client
    ///     .create_run(CreateRun::new("1").name("baseline").tag("git_sha", "4f2a9c1"))
    ///     .await?;
    /// println!("run {} stores artifacts at {}", run.id(), run.info.artifact_uri);
    /// # Ok(()) }
    /// ```
    pub async fn create_run(&self, req: CreateRun) -> Result<Run> {
        let mut tags = req.tags;
        let user = std::env::var("MLFLOW_TRACKING_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_default();
        let mut add = |k: &str, v: &str| {
            if !tags.iter().any(|t| t.key == k) {
                tags.push(Tag::new(k, v));
            }
        };
        if !user.is_empty() {
            add("mlflow.user", &user);
        }
        add("mlflow.source.type", "LOCAL");
        if let Some(exe) = std::env::args().next() {
            add("mlflow.source.name", &exe);
        }
        for (k, v) in crate::util::git_metadata() {
            add(k, v);
        }
        if let Some(p) = &req.parent_run_id {
            add("mlflow.parentRunId", p);
        }
        if let Some(n) = &req.run_name {
            add("mlflow.runName", n);
        }
        let mut body = json!({
            "experiment_id": req.experiment_id,
            "start_time": req.start_time.unwrap_or_else(crate::util::now_ms),
            "tags": tags,
        });
        if !user.is_empty() {
            body["user_id"] = json!(user);
        }
        if let Some(n) = &req.run_name {
            body["run_name"] = json!(n);
        }
        let r: RunResp = self.post("/api/2.0/mlflow/runs/create", body).await?;
        Ok(r.run)
    }

    /// Fetches a run.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// let run = client.get_run(run_id).await?;
    /// println!("{:?} lr={:?} loss={:?}", run.info.status, run.param("lr"), run.metric("loss"));
    /// # Ok(()) }
    /// ```
    pub async fn get_run(&self, run_id: &str) -> Result<Run> {
        let r: RunResp = self
            .get(
                "/api/2.0/mlflow/runs/get",
                json!({"run_id": run_id, "run_uuid": run_id}),
            )
            .await?;
        Ok(r.run)
    }

    /// Updates a run's status, end time and/or name; returns the new info.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// use mlflow_sdk::{RunStatus, now_ms};
    /// let info = client
    ///     .update_run(run_id, Some(RunStatus::Killed), Some(now_ms()), Some("baseline-stopped"))
    ///     .await?;
    /// assert_eq!(info.status, RunStatus::Killed);
    /// # Ok(()) }
    /// ```
    pub async fn update_run(
        &self,
        run_id: &str,
        status: Option<RunStatus>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<RunInfo> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            run_info: RunInfo,
        }
        let mut body = json!({"run_id": run_id, "run_uuid": run_id});
        if let Some(s) = status {
            body["status"] = json!(s);
        }
        if let Some(t) = end_time {
            body["end_time"] = json!(t);
        }
        if let Some(n) = run_name {
            body["run_name"] = json!(n);
        }
        let r: R = self.post("/api/2.0/mlflow/runs/update", body).await?;
        Ok(r.run_info)
    }

    /// Ends a run with `status` at the current time.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// use mlflow_sdk::RunStatus;
    /// let info = client.end_run(run_id, RunStatus::Finished).await?;
    /// assert!(info.end_time.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn end_run(&self, run_id: &str, status: RunStatus) -> Result<RunInfo> {
        self.update_run(run_id, Some(status), Some(crate::util::now_ms()), None)
            .await
    }

    /// Marks a run deleted.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// client.delete_run(run_id).await?;
    /// assert_eq!(client.get_run(run_id).await?.info.lifecycle_stage, "deleted");
    /// # Ok(()) }
    /// ```
    pub async fn delete_run(&self, run_id: &str) -> Result<()> {
        let _: Value = self
            .post("/api/2.0/mlflow/runs/delete", json!({"run_id": run_id}))
            .await?;
        Ok(())
    }

    /// Restores a deleted run.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// client.restore_run(run_id).await?;
    /// assert_eq!(client.get_run(run_id).await?.info.lifecycle_stage, "active");
    /// # Ok(()) }
    /// ```
    pub async fn restore_run(&self, run_id: &str) -> Result<()> {
        let _: Value = self
            .post("/api/2.0/mlflow/runs/restore", json!({"run_id": run_id}))
            .await?;
        Ok(())
    }

    /// Logs a param.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// client.log_param(run_id, "learning_rate", "0.001").await?;
    /// # Ok(()) }
    /// ```
    pub async fn log_param(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        let _: Value = self
            .post(
                "/api/2.0/mlflow/runs/log-parameter",
                json!({"run_id": run_id, "run_uuid": run_id, "key": key, "value": value}),
            )
            .await?;
        Ok(())
    }

    /// Logs one metric value at `step`, timestamped now.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// for (step, loss) in [0.9, 0.5, 0.3].into_iter().enumerate() {
    ///     client.log_metric(run_id, "loss", loss, step as i64).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn log_metric(&self, run_id: &str, key: &str, value: f64, step: i64) -> Result<()> {
        let m = Metric::new(key, value, step);
        let mut body = serde_json::to_value(&m).map_err(|e| Error::invalid(e.to_string()))?;
        body["run_id"] = json!(run_id);
        body["run_uuid"] = json!(run_id);
        let _: Value = self.post("/api/2.0/mlflow/runs/log-metric", body).await?;
        Ok(())
    }

    /// Sets a run tag.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// client.set_tag(run_id, "mlflow.note.content", "Baseline, default hyperparameters").await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_tag(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        let _: Value = self
            .post(
                "/api/2.0/mlflow/runs/set-tag",
                json!({"run_id": run_id, "run_uuid": run_id, "key": key, "value": value}),
            )
            .await?;
        Ok(())
    }

    /// Deletes a run tag.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// client.delete_tag(run_id, "candidate").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        let _: Value = self
            .post(
                "/api/2.0/mlflow/runs/delete-tag",
                json!({"run_id": run_id, "key": key}),
            )
            .await?;
        Ok(())
    }

    /// Logs metrics, params and tags, split into as many `log-batch` calls as the server's
    /// limits require (≤ 1000 metrics, ≤ 100 params, ≤ 100 tags, ≤ 1000 entities per call).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// use mlflow_sdk::{Metric, Param, Tag};
    /// let metrics: Vec<Metric> = (0..3000)
    ///     .map(|s| Metric::new("loss", 1.0 / (s + 1) as f64, s))
    ///     .collect();
    /// let params = [Param::new("lr", "0.01"), Param::new("batch_size", "64")];
    /// let tags = [Tag::new("stage", "train")];
    /// client.log_batch(run_id, &metrics, &params, &tags).await?; // three log-batch calls
    /// # Ok(()) }
    /// ```
    pub async fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[Tag],
    ) -> Result<()> {
        let (mut mi, mut pi, mut ti) = (0, 0, 0);
        while mi < metrics.len() || pi < params.len() || ti < tags.len() || (mi + pi + ti == 0) {
            let np = (params.len() - pi).min(MAX_PARAMS_PER_BATCH);
            let nt = (tags.len() - ti).min(MAX_TAGS_PER_BATCH);
            let nm = (metrics.len() - mi)
                .min(MAX_ENTITIES_PER_BATCH - np - nt)
                .min(MAX_METRICS_PER_BATCH);
            let body = json!({
                "run_id": run_id,
                "metrics": &metrics[mi..mi + nm],
                "params": &params[pi..pi + np],
                "tags": &tags[ti..ti + nt],
            });
            let _: Value = self.post("/api/2.0/mlflow/runs/log-batch", body).await?;
            mi += nm;
            pi += np;
            ti += nt;
            if metrics.is_empty() && params.is_empty() && tags.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// One page of `runs/search`.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::SearchQuery;
    /// let q = SearchQuery::new().filter("attributes.status = 'FINISHED'").max_results(100);
    /// let page = client.search_runs_page(&["1".to_string()], &q).await?;
    /// for run in &page.items {
    ///     println!("{} loss={:?}", run.id(), run.metric("loss"));
    /// }
    /// let more = page.next_page_token.is_some(); // pass it as `q.page_token` for the next page
    /// # Ok(()) }
    /// ```
    pub async fn search_runs_page(
        &self,
        experiment_ids: &[String],
        q: &SearchQuery,
    ) -> Result<Page<Run>> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            runs: Vec<Run>,
            next_page_token: Option<String>,
        }
        let mut body = json!({
            "experiment_ids": experiment_ids,
            "run_view_type": q.view_type,
            "max_results": q.max_results.unwrap_or(1000),
        });
        if let Some(f) = &q.filter {
            body["filter"] = json!(f);
        }
        if !q.order_by.is_empty() {
            body["order_by"] = json!(q.order_by);
        }
        if let Some(t) = &q.page_token {
            body["page_token"] = json!(t);
        }
        let r: R = self.post("/api/2.0/mlflow/runs/search", body).await?;
        Ok(Page {
            items: r.runs,
            next_page_token: opt_token(r.next_page_token),
        })
    }

    /// All runs matching `q` in `experiment_ids`, following page tokens lazily.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use futures::TryStreamExt;
    /// use mlflow_sdk::SearchQuery;
    /// let runs: Vec<_> = client
    ///     .search_runs(vec!["1".into()], SearchQuery::new().filter("metrics.loss < 0.1"))
    ///     .try_collect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn search_runs(
        &self,
        experiment_ids: Vec<String>,
        q: SearchQuery,
    ) -> impl Stream<Item = Result<Run>> + '_ {
        let first = q.page_token.clone();
        let ids = Arc::new(experiment_ids);
        paginate(
            move |token| {
                let mut q = q.clone();
                q.page_token = token;
                let ids = ids.clone();
                async move { self.search_runs_page(&ids, &q).await }
            },
            first,
        )
    }

    /// The full history of metric `key` of a run (all pages).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// # let run_id = "5e1c4b0a9f2d4e7b8c3a6d1f0e9b2c47";
    /// let history = client.get_metric_history(run_id, "loss").await?;
    /// let best = history.iter().map(|m| m.value).fold(f64::INFINITY, f64::min);
    /// println!("{} points, best loss {best}", history.len());
    /// # Ok(()) }
    /// ```
    pub async fn get_metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct R {
            metrics: Vec<Metric>,
            next_page_token: Option<String>,
        }
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = json!({"run_id": run_id, "run_uuid": run_id, "metric_key": key, "max_results": 25000});
            if let Some(t) = &token {
                q["page_token"] = json!(t);
            }
            let r: R = self.get("/api/2.0/mlflow/metrics/get-history", q).await?;
            out.extend(r.metrics);
            match opt_token(r.next_page_token) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Drains a stream into a `Vec` (convenience for the paging streams).
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::{Client, SearchQuery};
    /// let experiments = Client::collect(client.search_experiments(SearchQuery::new())).await?;
    /// println!("{} experiments", experiments.len());
    /// # Ok(()) }
    /// ```
    pub async fn collect<T>(s: impl Stream<Item = Result<T>>) -> Result<Vec<T>> {
        s.try_collect().await
    }

    /// Returns the first `n` items of a paging stream.
    ///
    /// ```no_run
    /// # async fn demo(client: mlflow_sdk::Client) -> mlflow_sdk::Result<()> {
    /// use mlflow_sdk::{Client, SearchQuery};
    /// let q = SearchQuery::new().order_by("start_time DESC");
    /// let latest = Client::take(client.search_runs(vec!["1".into()], q), 10).await?;
    /// assert!(latest.len() <= 10);
    /// # Ok(()) }
    /// ```
    pub async fn take<T>(s: impl Stream<Item = Result<T>>, n: usize) -> Result<Vec<T>> {
        s.take(n).try_collect().await
    }
}
