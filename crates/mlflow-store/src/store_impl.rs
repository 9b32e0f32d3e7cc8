//! [`TrackingStore`] for [`SqlStore`]: a thin forwarding layer over the per-area modules.

use crate::{CreateRun, Page, SearchExperiments, SearchRuns, SqlStore, TrackingStore};
use async_trait::async_trait;
use mlflow_domain::Result;
use mlflow_domain::tracking::{DatasetInput, Experiment, Metric, ModelInput, Run, RunInfo, Tag};

#[async_trait]
impl TrackingStore for SqlStore {
    async fn create_experiment(
        &self,
        name: &str,
        loc: Option<&str>,
        tags: &[Tag],
    ) -> Result<String> {
        self.create_experiment_impl(name, loc, tags).await
    }
    async fn get_experiment(&self, id: &str) -> Result<Experiment> {
        self.get_experiment_impl(id).await
    }
    async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        self.get_experiment_by_name_impl(name).await
    }
    async fn search_experiments(&self, req: &SearchExperiments) -> Result<Page<Experiment>> {
        self.search_experiments_impl(req).await
    }
    async fn rename_experiment(&self, id: &str, new_name: &str) -> Result<()> {
        self.rename_experiment_impl(id, new_name).await
    }
    async fn delete_experiment(&self, id: &str) -> Result<()> {
        self.set_experiment_lifecycle(id, true).await
    }
    async fn restore_experiment(&self, id: &str) -> Result<()> {
        self.set_experiment_lifecycle(id, false).await
    }
    async fn set_experiment_tag(&self, id: &str, key: &str, value: &str) -> Result<()> {
        self.set_experiment_tag_impl(id, key, value).await
    }
    async fn delete_experiment_tag(&self, id: &str, key: &str) -> Result<()> {
        self.delete_experiment_tag_impl(id, key).await
    }
    async fn create_run(&self, req: CreateRun) -> Result<Run> {
        self.create_run_impl(req).await
    }
    async fn get_run(&self, run_id: &str) -> Result<Run> {
        self.get_run_impl(run_id).await
    }
    async fn update_run(
        &self,
        run_id: &str,
        status: Option<&str>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<RunInfo> {
        self.update_run_impl(run_id, status, end_time, run_name)
            .await
    }
    async fn delete_run(&self, run_id: &str) -> Result<()> {
        self.set_run_lifecycle(run_id, true).await
    }
    async fn restore_run(&self, run_id: &str) -> Result<()> {
        self.set_run_lifecycle(run_id, false).await
    }
    async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<Tag>,
        tags: Vec<Tag>,
    ) -> Result<()> {
        self.log_batch_impl(run_id, metrics, params, tags, false)
            .await
    }
    async fn log_param(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        let p = Tag {
            key: key.into(),
            value: value.into(),
        };
        self.log_batch_impl(run_id, Vec::new(), vec![p], Vec::new(), true)
            .await
    }
    async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        self.delete_tag_impl(run_id, key).await
    }
    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        self.log_inputs_impl(run_id, datasets, models).await
    }
    async fn search_runs(&self, req: &SearchRuns) -> Result<Page<Run>> {
        self.search_runs_impl(req).await
    }
    async fn get_metric_history(
        &self,
        run_id: &str,
        key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<Page<Metric>> {
        self.get_metric_history_impl(run_id, key, max_results, page_token)
            .await
    }
    async fn get_metric_history_bulk_interval(
        &self,
        run_ids: &[String],
        key: &str,
        max_results: i64,
        steps: Option<(i64, i64)>,
    ) -> Result<Vec<Metric>> {
        self.get_metric_history_bulk_interval_impl(run_ids, key, max_results, steps)
            .await
    }
}
