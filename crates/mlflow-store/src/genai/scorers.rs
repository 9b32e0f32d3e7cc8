//! Registered scorers and online scoring configs: the official `SqlAlchemyStore` scorer
//! methods on `scorers`, `scorer_versions`, `online_scoring_configs`, plus the gateway
//! endpoint name↔id rewriting of `gateway:/` judge models (`endpoints`, `endpoint_bindings`).

use super::ScorerScope;
use crate::db::{RowExt, args_from, db_err, is_unique_violation};
use crate::experiments::check_active;
use crate::{SqlStore, placeholders};
use mlflow_domain::genai::{
    OnlineScoringConfig, ScorerVersion, gateway_endpoint_ref, scorer_model, set_scorer_model,
};
use mlflow_domain::traces::{PyValue, py_float_repr};
use mlflow_domain::{Error, Result, now_ms};
use mlflow_search::SqlValue;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use std::collections::HashMap;

/// SQLite's bound-parameter cap is 999; stay well below it.
const ID_CHUNK: usize = 500;

fn scorer_not_found(name: &str, experiment_id: &str) -> Error {
    Error::not_found(format!(
        "Scorer with name '{name}' not found for experiment {experiment_id}."
    ))
}

fn version_not_found(name: &str, version: i64, experiment_id: &str) -> Error {
    Error::not_found(format!(
        "Scorer with name '{name}' and version {version} not found for experiment {experiment_id}."
    ))
}

fn py_type_name(v: &PyValue) -> &'static str {
    match v {
        PyValue::Null => "NoneType",
        PyValue::Bool(_) => "bool",
        PyValue::Int(_) => "int",
        PyValue::Float(_) => "float",
        PyValue::Str(_) => "str",
        PyValue::List(_) => "list",
        PyValue::Dict(_) => "dict",
    }
}

/// `validate_scorer_model` on the judge model of a serialized scorer; returns it when set.
fn validated_model(data: &PyValue) -> Result<Option<String>> {
    match scorer_model(data) {
        None | Some(PyValue::Null) => Ok(None),
        Some(PyValue::Str(s)) if s.trim().is_empty() => Err(Error::invalid(
            "Scorer model cannot be empty or contain only whitespace.",
        )),
        Some(PyValue::Str(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::invalid(format!(
            "Scorer model must be a string, got {}.",
            py_type_name(other)
        ))),
    }
}

/// True when an instructions judge's template uses `{{ expectations }}`.
fn judge_uses_expectations(data: &PyValue) -> bool {
    let Some(instructions) = data
        .get("instructions_judge_pydantic_data")
        .and_then(|d| d.get("instructions"))
        .and_then(PyValue::as_str)
    else {
        return false;
    };
    let mut rest = instructions;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        if after[..end].trim() == "expectations" {
            return true;
        }
        rest = &after[end + 2..];
    }
    false
}

const VERSION_COLS: &str = "s.experiment_id, s.scorer_name, v.scorer_version, \
                            v.serialized_scorer, v.creation_time, v.scorer_id";

fn version_from_row(row: &AnyRow) -> Result<ScorerVersion> {
    Ok(ScorerVersion {
        experiment_id: row.i64_at(0)?,
        scorer_name: row.str_at(1)?,
        scorer_version: row.i64_at(2)?,
        serialized_scorer: row.str_at(3)?,
        creation_time: row.opt_i64_at(4)?,
        scorer_id: row.str_at(5)?,
    })
}

fn config_from_row(row: &AnyRow) -> Result<OnlineScoringConfig> {
    Ok(OnlineScoringConfig {
        online_scoring_config_id: row.str_at(0)?,
        scorer_id: row.str_at(1)?,
        sample_rate: row.f64_at(2)?,
        experiment_id: row.i64_at(3)?,
        filter_string: row.opt_str_at(4)?,
    })
}

impl SqlStore {
    /// `get_experiment` + `_check_experiment_is_active`; returns the numeric id.
    async fn active_experiment(&self, experiment_id: &str) -> Result<i64> {
        let exp = self.get_experiment_impl(experiment_id).await?;
        let id = exp
            .experiment_id
            .parse::<i64>()
            .map_err(|_| Error::internal("non-numeric experiment id"))?;
        check_active(id, exp.lifecycle_stage.as_deref().unwrap_or("active"))?;
        Ok(id)
    }

    async fn scorer_id_of(
        &self,
        tx: Option<&mut Transaction<'static, Any>>,
        experiment_id: i64,
        name: &str,
    ) -> Result<Option<String>> {
        let q = sqlx::query(
            self.db
                .sql("SELECT scorer_id FROM scorers WHERE experiment_id = ? AND scorer_name = ?"),
        )
        .bind(experiment_id)
        .bind(name.to_string());
        let row = match tx {
            Some(tx) => q.fetch_optional(&mut **tx).await,
            None => q.fetch_optional(&self.db.read).await,
        }
        .map_err(db_err)?;
        row.map(|r| r.str_at(0)).transpose()
    }

    /// Gateway endpoint ids → names, for the given ids.
    async fn endpoint_names(&self, ids: &[String]) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut q = sqlx::query(self.db.sql(&format!(
            "SELECT endpoint_id, name FROM endpoints WHERE endpoint_id IN ({})",
            placeholders(ids.len())
        )))
        .persistent(false);
        for id in ids {
            q = q.bind(id.clone());
        }
        for r in q.fetch_all(&self.db.read).await.map_err(db_err)? {
            if let Some(name) = r.opt_str_at(1)? {
                out.insert(r.str_at(0)?, name);
            }
        }
        Ok(out)
    }

    /// `_batch_resolve_endpoint_in_serialized_scorers`: `gateway:/<id>` → `gateway:/<name>`
    /// (model `null` when the endpoint is gone); other scorers are returned verbatim.
    async fn resolve_endpoints(
        &self,
        mut versions: Vec<ScorerVersion>,
    ) -> Result<Vec<ScorerVersion>> {
        let mut refs: Vec<(usize, PyValue, String)> = Vec::new();
        for (i, v) in versions.iter().enumerate() {
            let Some(data) = PyValue::loads(&v.serialized_scorer) else {
                continue;
            };
            let endpoint = scorer_model(&data)
                .and_then(PyValue::as_str)
                .and_then(gateway_endpoint_ref)
                .map(str::to_owned);
            if let Some(e) = endpoint {
                refs.push((i, data, e));
            }
        }
        if refs.is_empty() {
            return Ok(versions);
        }
        let ids: Vec<String> = refs.iter().map(|r| r.2.clone()).collect();
        let names = self.endpoint_names(&ids).await?;
        for (i, data, endpoint) in refs {
            let model = names
                .get(&endpoint)
                .map_or(PyValue::Null, |n| PyValue::Str(format!("gateway:/{n}")));
            versions[i].serialized_scorer = set_scorer_model(&data, model).dumps(true);
        }
        Ok(versions)
    }

    async fn load_versions(
        &self,
        where_sql: &str,
        binds: Vec<SqlValue>,
    ) -> Result<Vec<ScorerVersion>> {
        sqlx::query_with(
            self.db.sql(&format!(
                "SELECT {VERSION_COLS} FROM scorer_versions v \
                 JOIN scorers s ON s.scorer_id = v.scorer_id WHERE {where_sql}"
            )),
            args_from(&binds)?,
        )
        .persistent(false)
        .fetch_all(&self.db.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(version_from_row)
        .collect()
    }

    pub(crate) async fn register_scorer_impl(
        &self,
        experiment_id: &str,
        name: &str,
        serialized_scorer: &str,
    ) -> Result<ScorerVersion> {
        if name.trim().is_empty() {
            return Err(Error::invalid(
                "Scorer name cannot be empty or contain only whitespace.",
            ));
        }
        let exp_id = self.active_experiment(experiment_id).await?;
        let mut serialized = serialized_scorer.to_string();
        let data = PyValue::loads(serialized_scorer)
            .ok_or_else(|| Error::invalid("serialized_scorer must be valid JSON"))?;
        let mut endpoint_id = None;
        if let Some(model) = validated_model(&data)?
            && let Some(endpoint_name) = gateway_endpoint_ref(&model)
        {
            let row = sqlx::query(
                self.db
                    .sql("SELECT endpoint_id FROM endpoints WHERE name = ?"),
            )
            .bind(endpoint_name.to_string())
            .fetch_optional(&self.db.read)
            .await
            .map_err(db_err)?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "GatewayEndpoint not found (name='{endpoint_name}')"
                ))
            })?;
            let id = row.str_at(0)?;
            serialized =
                set_scorer_model(&data, PyValue::Str(format!("gateway:/{id}"))).dumps(true);
            endpoint_id = Some(id);
        }
        // A concurrent first registration of the same name loses the unique race; retry once
        // it is committed.
        let mut attempt = 0;
        let version = loop {
            attempt += 1;
            match self
                .insert_scorer_version(exp_id, name, &serialized, endpoint_id.as_deref())
                .await
            {
                Err(e) if attempt < 3 && e.message.contains("retry") => continue,
                other => break other?,
            }
        };
        Ok(self.resolve_endpoints(vec![version]).await?.remove(0))
    }

    async fn insert_scorer_version(
        &self,
        exp_id: i64,
        name: &str,
        serialized: &str,
        endpoint_id: Option<&str>,
    ) -> Result<ScorerVersion> {
        let db = &self.db;
        let retry = |e: sqlx::Error| {
            if is_unique_violation(&e) {
                Error::internal("concurrent scorer registration, retry")
            } else {
                db_err(e)
            }
        };
        let mut tx = db.begin_write().await?;
        let scorer_id = match self.scorer_id_of(Some(&mut tx), exp_id, name).await? {
            Some(id) => id,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                sqlx::query(db.sql(
                    "INSERT INTO scorers (experiment_id, scorer_name, scorer_id) VALUES (?, ?, ?)",
                ))
                .bind(exp_id)
                .bind(name.to_string())
                .bind(id.clone())
                .execute(&mut *tx)
                .await
                .map_err(retry)?;
                id
            }
        };
        let max = sqlx::query(
            db.sql("SELECT MAX(scorer_version) FROM scorer_versions WHERE scorer_id = ?"),
        )
        .bind(scorer_id.clone())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?
        .opt_i64_at(0)?;
        let version = max.map_or(1, |m| m + 1);
        let now = now_ms();
        sqlx::query(db.sql(
            "INSERT INTO scorer_versions (scorer_id, scorer_version, serialized_scorer, creation_time) \
             VALUES (?, ?, ?, ?)",
        ))
        .bind(scorer_id.clone())
        .bind(version)
        .bind(serialized.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(retry)?;
        if let Some(endpoint_id) = endpoint_id {
            sqlx::query(db.sql(
                "DELETE FROM endpoint_bindings WHERE resource_type = 'scorer' AND resource_id = ?",
            ))
            .bind(scorer_id.clone())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query(db.sql(
                "INSERT INTO endpoint_bindings (endpoint_id, resource_type, resource_id, \
                 display_name, created_at, last_updated_at) VALUES (?, 'scorer', ?, ?, ?, ?)",
            ))
            .bind(endpoint_id.to_string())
            .bind(scorer_id.clone())
            .bind(name.to_string())
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(retry)?;
        Ok(ScorerVersion {
            experiment_id: exp_id,
            scorer_name: name.to_string(),
            scorer_version: version,
            serialized_scorer: serialized.to_string(),
            creation_time: Some(now),
            scorer_id,
        })
    }

    pub(crate) async fn list_scorers_impl(&self, scope: ScorerScope) -> Result<Vec<ScorerVersion>> {
        let latest = "v.scorer_version = (SELECT MAX(v2.scorer_version) FROM scorer_versions v2 \
                      WHERE v2.scorer_id = v.scorer_id)";
        let mut out = match scope {
            ScorerScope::Experiment(id) => {
                let exp = self.active_experiment(&id).await?;
                self.load_versions(
                    &format!("s.experiment_id = ? AND {latest}"),
                    vec![SqlValue::Int(exp)],
                )
                .await?
            }
            ScorerScope::AllActive => {
                self.load_versions(
                    &format!(
                        "s.experiment_id IN (SELECT e.experiment_id FROM experiments e \
                         WHERE e.lifecycle_stage = 'active') AND {latest}"
                    ),
                    Vec::new(),
                )
                .await?
            }
            ScorerScope::Experiments(ids) => {
                let mut ints: Vec<i64> = Vec::new();
                for id in &ids {
                    let i = mlflow_domain::validation::parse_experiment_id(id)?;
                    if !ints.contains(&i) {
                        ints.push(i);
                    }
                }
                let mut all = Vec::new();
                for chunk in ints.chunks(ID_CHUNK) {
                    all.extend(
                        self.load_versions(
                            &format!(
                                "s.experiment_id IN (SELECT e.experiment_id FROM experiments e \
                                 WHERE e.lifecycle_stage = 'active' AND e.experiment_id IN ({})) \
                                 AND {latest}",
                                placeholders(chunk.len())
                            ),
                            chunk.iter().map(|i| SqlValue::Int(*i)).collect(),
                        )
                        .await?,
                    );
                }
                all
            }
        };
        out.sort_by(|a, b| {
            (a.experiment_id, &a.scorer_name).cmp(&(b.experiment_id, &b.scorer_name))
        });
        self.resolve_endpoints(out).await
    }

    pub(crate) async fn list_scorer_versions_impl(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<Vec<ScorerVersion>> {
        let exp = self.active_experiment(experiment_id).await?;
        let Some(scorer_id) = self.scorer_id_of(None, exp, name).await? else {
            return Err(scorer_not_found(name, experiment_id));
        };
        let mut versions = self
            .load_versions("v.scorer_id = ?", vec![SqlValue::Text(scorer_id)])
            .await?;
        if versions.is_empty() {
            return Err(scorer_not_found(name, experiment_id));
        }
        versions.sort_by_key(|v| v.scorer_version);
        self.resolve_endpoints(versions).await
    }

    pub(crate) async fn get_scorer_impl(
        &self,
        experiment_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<ScorerVersion> {
        let exp = self.active_experiment(experiment_id).await?;
        let Some(scorer_id) = self.scorer_id_of(None, exp, name).await? else {
            return Err(scorer_not_found(name, experiment_id));
        };
        let found = match version {
            Some(v) => {
                self.load_versions(
                    "v.scorer_id = ? AND v.scorer_version = ?",
                    vec![SqlValue::Text(scorer_id), SqlValue::Int(v)],
                )
                .await?
            }
            None => {
                self.load_versions(
                    "v.scorer_id = ? AND v.scorer_version = (SELECT MAX(v2.scorer_version) \
                     FROM scorer_versions v2 WHERE v2.scorer_id = v.scorer_id)",
                    vec![SqlValue::Text(scorer_id)],
                )
                .await?
            }
        };
        let Some(v) = found.into_iter().next() else {
            return Err(match version {
                Some(v) => version_not_found(name, v, experiment_id),
                None => scorer_not_found(name, experiment_id),
            });
        };
        Ok(self.resolve_endpoints(vec![v]).await?.remove(0))
    }

    pub(crate) async fn delete_scorer_impl(
        &self,
        experiment_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<()> {
        let exp = self.active_experiment(experiment_id).await?;
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let Some(scorer_id) = self.scorer_id_of(Some(&mut tx), exp, name).await? else {
            return Err(scorer_not_found(name, experiment_id));
        };
        let deleted = match version {
            Some(v) => sqlx::query(
                db.sql("DELETE FROM scorer_versions WHERE scorer_id = ? AND scorer_version = ?"),
            )
            .bind(scorer_id.clone())
            .bind(v),
            None => sqlx::query(db.sql("DELETE FROM scorer_versions WHERE scorer_id = ?"))
                .bind(scorer_id.clone()),
        }
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if deleted == 0 {
            return Err(match version {
                Some(v) => version_not_found(name, v, experiment_id),
                None => scorer_not_found(name, experiment_id),
            });
        }
        if version.is_none() {
            for sql in [
                "DELETE FROM endpoint_bindings WHERE resource_type = 'scorer' AND resource_id = ?",
                "DELETE FROM online_scoring_configs WHERE scorer_id = ?",
                "DELETE FROM scorers WHERE scorer_id = ?",
            ] {
                sqlx::query(db.sql(sql))
                    .bind(scorer_id.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn upsert_online_scoring_config_impl(
        &self,
        experiment_id: &str,
        name: &str,
        sample_rate: f64,
        filter_string: Option<&str>,
    ) -> Result<OnlineScoringConfig> {
        if !(0.0..=1.0).contains(&sample_rate) {
            return Err(Error::invalid(format!(
                "sample_rate must be between 0.0 and 1.0, got {}",
                py_float_repr(sample_rate)
            )));
        }
        if let Some(f) = filter_string.filter(|f| !f.is_empty()) {
            mlflow_search::traces::parse_traces_filter(f).map_err(|e| Error::invalid(e.message))?;
        }
        let exp = self.active_experiment(experiment_id).await?;
        let db = &self.db;
        let mut tx = db.begin_write().await?;
        let Some(scorer_id) = self.scorer_id_of(Some(&mut tx), exp, name).await? else {
            return Err(scorer_not_found(name, experiment_id));
        };
        let latest = sqlx::query(db.sql(
            "SELECT serialized_scorer FROM scorer_versions WHERE scorer_id = ? \
             ORDER BY scorer_version DESC LIMIT 1",
        ))
        .bind(scorer_id.clone())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(row) = latest
            && sample_rate > 0.0
        {
            let data = PyValue::loads(&row.str_at(0)?).unwrap_or(PyValue::Null);
            let gateway = scorer_model(&data)
                .and_then(PyValue::as_str)
                .and_then(gateway_endpoint_ref)
                .is_some();
            if !gateway {
                return Err(Error::invalid(format!(
                    "Scorer '{name}' does not use a gateway model. Automatic evaluation is only \
                     supported for scorers that use gateway models."
                )));
            }
            if judge_uses_expectations(&data) {
                return Err(Error::invalid(format!(
                    "Scorer '{name}' requires expectations, but scorers with expectations are not \
                     currently supported for automatic evaluation."
                )));
            }
        }
        sqlx::query(db.sql("DELETE FROM online_scoring_configs WHERE scorer_id = ?"))
            .bind(scorer_id.clone())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let config = OnlineScoringConfig {
            online_scoring_config_id: uuid::Uuid::new_v4().simple().to_string(),
            scorer_id,
            sample_rate,
            experiment_id: exp,
            filter_string: filter_string.map(str::to_owned),
        };
        sqlx::query(db.sql(
            "INSERT INTO online_scoring_configs (online_scoring_config_id, scorer_id, sample_rate, \
             experiment_id, filter_string) VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(config.online_scoring_config_id.clone())
        .bind(config.scorer_id.clone())
        .bind(config.sample_rate)
        .bind(config.experiment_id)
        .bind(config.filter_string.clone())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(config)
    }

    pub(crate) async fn get_online_scoring_configs_impl(
        &self,
        scorer_ids: &[String],
    ) -> Result<Vec<OnlineScoringConfig>> {
        let mut out = Vec::new();
        for chunk in scorer_ids.chunks(ID_CHUNK) {
            let mut q = sqlx::query(self.db.sql(&format!(
                "SELECT online_scoring_config_id, scorer_id, sample_rate, experiment_id, \
                 filter_string FROM online_scoring_configs WHERE scorer_id IN ({})",
                placeholders(chunk.len())
            )))
            .persistent(false);
            for id in chunk {
                q = q.bind(id.clone());
            }
            for r in q.fetch_all(&self.db.read).await.map_err(db_err)? {
                out.push(config_from_row(&r)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_template() {
        let d = |s: &str| {
            PyValue::loads(&format!(
                r#"{{"instructions_judge_pydantic_data": {{"instructions": "{s}"}}}}"#
            ))
            .unwrap()
        };
        assert!(judge_uses_expectations(&d(
            "Compare {{ outputs }} to {{expectations}}"
        )));
        assert!(!judge_uses_expectations(&d("Is {{ outputs }} polite?")));
    }
}
