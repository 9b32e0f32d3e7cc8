//! Executes the generated SQL against an in-memory SQLite built from the official 3.17.2 DDL
//! and checks which ids come back, in which order.

use mlflow_search::{
    Dialect, SqlQuery, SqlValue, ViewType, search_experiments_query, search_runs_query,
};
use sqlx::{AssertSqlSafe, Connection, Row, SqliteConnection};

/// Tables copied from `mlflow-3.17.2-sqlite-schema.sql` (CHECKs, PKs and indexes included).
const SCHEMA: &str = r#"
CREATE TABLE "experiments" (
	experiment_id INTEGER NOT NULL,
	name VARCHAR(256) NOT NULL,
	artifact_location VARCHAR(256),
	lifecycle_stage VARCHAR(32),
	creation_time BIGINT,
	last_update_time BIGINT,
	workspace VARCHAR(63) DEFAULT 'default' NOT NULL,
	CONSTRAINT experiment_pk PRIMARY KEY (experiment_id),
	CONSTRAINT experiments_lifecycle_stage CHECK (lifecycle_stage IN ('active', 'deleted')),
	CONSTRAINT uq_experiments_workspace_name UNIQUE (workspace, name)
);
CREATE TABLE "experiment_tags" (
	"key" VARCHAR(250) NOT NULL,
	value TEXT,
	experiment_id INTEGER NOT NULL,
	CONSTRAINT experiment_tag_pk PRIMARY KEY ("key", experiment_id),
	FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id)
);
CREATE TABLE "runs" (
	run_uuid VARCHAR(32) NOT NULL,
	name VARCHAR(250),
	source_type VARCHAR(20),
	source_name VARCHAR(500),
	entry_point_name VARCHAR(50),
	user_id VARCHAR(256),
	status VARCHAR(9),
	start_time BIGINT,
	end_time BIGINT,
	source_version VARCHAR(50),
	lifecycle_stage VARCHAR(20),
	artifact_uri VARCHAR(200),
	experiment_id INTEGER, deleted_time BIGINT,
	CONSTRAINT run_pk PRIMARY KEY (run_uuid),
	CONSTRAINT runs_lifecycle_stage CHECK (lifecycle_stage IN ('active', 'deleted')),
	CONSTRAINT source_type CHECK (source_type IN ('NOTEBOOK', 'JOB', 'LOCAL', 'UNKNOWN', 'PROJECT')),
	FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id),
	CHECK (status IN ('SCHEDULED', 'FAILED', 'FINISHED', 'RUNNING', 'KILLED'))
);
CREATE TABLE "latest_metrics" (
	"key" VARCHAR(250) NOT NULL,
	value FLOAT NOT NULL,
	timestamp BIGINT,
	step BIGINT NOT NULL,
	is_nan BOOLEAN NOT NULL,
	run_uuid VARCHAR(32) NOT NULL,
	CONSTRAINT latest_metric_pk PRIMARY KEY ("key", run_uuid),
	FOREIGN KEY(run_uuid) REFERENCES runs (run_uuid),
	CHECK (is_nan IN (0, 1))
);
CREATE TABLE "params" (
	"key" VARCHAR(250) NOT NULL,
	value VARCHAR(8000) NOT NULL,
	run_uuid VARCHAR(32) NOT NULL,
	CONSTRAINT param_pk PRIMARY KEY ("key", run_uuid),
	FOREIGN KEY(run_uuid) REFERENCES runs (run_uuid)
);
CREATE TABLE "tags" (
	"key" VARCHAR(250) NOT NULL,
	value VARCHAR(8000),
	run_uuid VARCHAR(32) NOT NULL,
	CONSTRAINT tag_pk PRIMARY KEY ("key", run_uuid),
	FOREIGN KEY(run_uuid) REFERENCES runs (run_uuid)
);
CREATE TABLE "datasets" (
	dataset_uuid VARCHAR(36) NOT NULL,
	experiment_id INTEGER NOT NULL,
	name VARCHAR(500) NOT NULL,
	digest VARCHAR(36) NOT NULL,
	dataset_source_type VARCHAR(36) NOT NULL,
	dataset_source TEXT NOT NULL,
	dataset_schema TEXT,
	dataset_profile TEXT,
	CONSTRAINT dataset_pk PRIMARY KEY (experiment_id, name, digest),
	CONSTRAINT fk_datasets_experiment_id_experiments FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE
);
CREATE TABLE inputs (
	input_uuid VARCHAR(36) NOT NULL,
	source_type VARCHAR(36) NOT NULL,
	source_id VARCHAR(36) NOT NULL,
	destination_type VARCHAR(36) NOT NULL,
	destination_id VARCHAR(36) NOT NULL, step BIGINT DEFAULT '0' NOT NULL,
	CONSTRAINT inputs_pk PRIMARY KEY (source_type, source_id, destination_type, destination_id)
);
CREATE TABLE input_tags (
	input_uuid VARCHAR(36) NOT NULL,
	name VARCHAR(255) NOT NULL,
	value VARCHAR(500) NOT NULL,
	CONSTRAINT input_tags_pk PRIMARY KEY (input_uuid, name)
);
CREATE INDEX idx_experiments_workspace ON experiments (workspace);
CREATE INDEX idx_experiments_workspace_creation_time ON experiments (workspace, creation_time);
CREATE INDEX index_latest_metrics_run_uuid ON latest_metrics (run_uuid);
CREATE INDEX index_params_run_uuid ON params (run_uuid);
CREATE INDEX index_tags_run_uuid ON tags (run_uuid);
CREATE INDEX index_datasets_dataset_uuid ON datasets (dataset_uuid);
CREATE INDEX index_inputs_destination_type_destination_id_source_type ON inputs (destination_type, destination_id, source_type);
CREATE INDEX index_inputs_input_uuid ON inputs (input_uuid);
"#;

/// Fixture. Experiment 1 holds runs r1..r6 (r3 deleted); experiment 2 holds r7.
///
/// | run | start | m        | p     | t     | runName | dataset (context)     |
/// |-----|-------|----------|-------|-------|---------|-----------------------|
/// | r1  | 100   | 1.0      | x     | Foo   | alpha   | train-ds/abc (training) |
/// | r2  | 200   | 3.0      | X     |       | Beta    | eval/def (eval)       |
/// | r3  | 300   |          | y_z   | foo   |         |  (deleted)            |
/// | r4  | NULL  | 2.0      |       |       | gamma   |                       |
/// | r5  | 200   | NaN      |       |       |         |                       |
/// | r6  | 50    |          | a%b   |       |         |                       |
const DATA: &str = r#"
INSERT INTO experiments VALUES (0, 'Default', 'a/0', 'active', 10, 10, 'default');
INSERT INTO experiments VALUES (1, 'exp-a', 'a/1', 'active', 20, 25, 'default');
INSERT INTO experiments VALUES (2, 'Exp-B', 'a/2', 'deleted', 30, 30, 'default');
INSERT INTO experiments VALUES (3, 'other', 'a/3', 'active', NULL, 5, 'default');
INSERT INTO experiments VALUES (4, 'ws-exp', 'a/4', 'active', 40, 40, 'team');
INSERT INTO experiment_tags VALUES ('team', 'ML', 1);
INSERT INTO experiment_tags VALUES ('team', 'ml', 3);
INSERT INTO experiment_tags VALUES ('mlflow.note.content', 'hello', 0);

INSERT INTO runs (run_uuid, name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri, experiment_id)
VALUES ('r1', 'alpha', 'u1', 'FINISHED', 100, 150, 'active', 's3://b/r1', 1),
       ('r2', 'Beta', 'u2', 'RUNNING', 200, NULL, 'active', 's3://b/r2', 1),
       ('r3', NULL, 'u1', 'FAILED', 300, 310, 'deleted', 's3://b/r3', 1),
       ('r4', 'gamma', 'U1', 'FINISHED', NULL, NULL, 'active', 's3://b/r4', 1),
       ('r5', 'delta', 'u3', 'KILLED', 200, 220, 'active', 's3://b/r5', 1),
       ('r6', 'eps', 'u3', 'FINISHED', 50, 60, 'active', 's3://b/r6', 1),
       ('r7', 'other', 'u1', 'FINISHED', 1000, 1001, 'active', 's3://b/r7', 2);

INSERT INTO latest_metrics VALUES ('m', 1.0, 1, 0, 0, 'r1'), ('m', 3.0, 1, 0, 0, 'r2'),
  ('m', 2.0, 1, 0, 0, 'r4'), ('m', 0.0, 1, 0, 1, 'r5'), ('m', 9.0, 1, 0, 0, 'r7'),
  ('my metric', 5.0, 1, 0, 0, 'r1'), ('M', 100.0, 1, 0, 0, 'r6');
INSERT INTO params VALUES ('p', 'x', 'r1'), ('p', 'X', 'r2'), ('p', 'y_z', 'r3'), ('p', 'a%b', 'r6');
INSERT INTO tags VALUES ('t', 'Foo', 'r1'), ('t', 'foo', 'r3'),
  ('mlflow.runName', 'alpha', 'r1'), ('mlflow.runName', 'Beta', 'r2'), ('mlflow.runName', 'gamma', 'r4');

INSERT INTO datasets VALUES ('d1', 1, 'train-ds', 'abc', 'local', '{}', NULL, NULL),
                            ('d2', 1, 'eval', 'def', 'local', '{}', NULL, NULL);
INSERT INTO inputs VALUES ('i1', 'DATASET', 'd1', 'RUN', 'r1', 0), ('i2', 'DATASET', 'd2', 'RUN', 'r2', 0);
INSERT INTO input_tags VALUES ('i1', 'mlflow.data.context', 'training'), ('i2', 'mlflow.data.context', 'eval');
"#;

async fn db() -> SqliteConnection {
    let mut conn = SqliteConnection::connect("sqlite::memory:")
        .await
        .expect("connect");
    sqlx::raw_sql(SCHEMA)
        .execute(&mut conn)
        .await
        .expect("schema");
    sqlx::raw_sql(DATA).execute(&mut conn).await.expect("data");
    conn
}

async fn run(conn: &mut SqliteConnection, q: SqlQuery) -> Vec<String> {
    let mut query = sqlx::query(AssertSqlSafe(q.sql.clone()));
    for b in q.binds {
        query = match b {
            SqlValue::Text(s) => query.bind(s),
            SqlValue::Int(i) => query.bind(i),
            SqlValue::Float(f) => query.bind(f),
        };
    }
    let rows = query
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", q.sql));
    rows.iter()
        .map(|r| match r.try_get::<String, _>(0) {
            Ok(s) => s,
            Err(_) => r.get::<i64, _>(0).to_string(),
        })
        .collect()
}

async fn runs_with(
    conn: &mut SqliteConnection,
    view: ViewType,
    filter: &str,
    order_by: &[&str],
    limit: i64,
    offset: i64,
) -> Vec<String> {
    let order_by: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
    let q = search_runs_query(
        Dialect::Sqlite,
        &[1],
        view,
        filter,
        &order_by,
        limit,
        offset,
    )
    .unwrap_or_else(|e| panic!("{filter}: {e}"));
    run(conn, q).await
}

async fn runs(conn: &mut SqliteConnection, filter: &str, order_by: &[&str]) -> Vec<String> {
    runs_with(conn, ViewType::ActiveOnly, filter, order_by, 1000, 0).await
}

#[tokio::test]
async fn run_filters() {
    let c = &mut db().await;
    // Default order: start_time DESC (NULL last on SQLite), then run_uuid.
    assert_eq!(runs(c, "", &[]).await, ["r2", "r5", "r1", "r6", "r4"]);
    assert_eq!(runs(c, "metrics.m > 1.5", &[]).await, ["r2", "r4"]);
    // NaN never satisfies a numeric comparison even though it is stored as 0 ...
    assert_eq!(runs(c, "metrics.m >= 0", &[]).await, ["r2", "r1", "r4"]);
    assert_eq!(runs(c, "metrics.m = 0", &[]).await, Vec::<String>::new());
    // ... but always satisfies !=.
    assert_eq!(runs(c, "metrics.m != 1", &[]).await, ["r2", "r5", "r4"]);
    assert_eq!(runs(c, "metrics.`my metric` = 5", &[]).await, ["r1"]);
    assert_eq!(runs(c, "metrics.\"my metric\" < 5.0001", &[]).await, ["r1"]);
    // Metric keys are case-sensitive.
    assert_eq!(runs(c, "metrics.M > 0", &[]).await, ["r6"]);
    // = and LIKE are case-sensitive, ILIKE is not.
    assert_eq!(runs(c, "params.p = 'x'", &[]).await, ["r1"]);
    assert_eq!(runs(c, "params.p LIKE 'x'", &[]).await, ["r1"]);
    assert_eq!(runs(c, "params.p like 'X%'", &[]).await, ["r2"]);
    assert_eq!(runs(c, "params.p ILIKE 'x'", &[]).await, ["r2", "r1"]);
    assert_eq!(runs(c, "params.p != 'x'", &[]).await, ["r2", "r6"]);
    // LIKE wildcards vs. GLOB metacharacters.
    assert_eq!(runs(c, "params.p LIKE 'a_b'", &[]).await, ["r6"]);
    assert_eq!(
        runs(c, "params.p LIKE '%\\%%'", &[]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        runs_with(c, ViewType::All, "params.p LIKE 'y_%'", &[], 10, 0).await,
        ["r3"]
    );
    assert_eq!(
        runs(c, "params.p LIKE '*'", &[]).await,
        Vec::<String>::new()
    );
    assert_eq!(runs(c, "params.p IS NULL", &[]).await, ["r5", "r4"]);
    assert_eq!(
        runs(c, "params.p IS NOT NULL", &[]).await,
        ["r2", "r1", "r6"]
    );
    assert_eq!(runs(c, "tags.t = 'Foo'", &[]).await, ["r1"]);
    assert_eq!(runs(c, "tags.t ILIKE 'foo'", &[]).await, ["r1"]);
    assert_eq!(
        runs(c, "tags.t IS NULL", &[]).await,
        ["r2", "r5", "r6", "r4"]
    );
    assert_eq!(runs(c, "tags.`mlflow.runName` = 'Beta'", &[]).await, ["r2"]);
    assert_eq!(
        runs(c, "tags.mlflow.runName LIKE '%a'", &[]).await,
        ["r2", "r1", "r4"]
    );
    // run_name goes through the mlflow.runName tag (r5/r6 only have runs.name).
    assert_eq!(runs(c, "attributes.run_name = 'alpha'", &[]).await, ["r1"]);
    assert_eq!(runs(c, "`Run Name` ILIKE 'b%'", &[]).await, ["r2"]);
    assert_eq!(
        runs(c, "run_name = 'delta'", &[]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        runs(c, "status = 'FINISHED'", &[]).await,
        ["r1", "r6", "r4"]
    );
    assert_eq!(
        runs(c, "attr.status != 'FINISHED'", &[]).await,
        ["r2", "r5"]
    );
    assert_eq!(runs(c, "user_id = 'u1'", &[]).await, ["r1"]);
    assert_eq!(runs(c, "user_id ILIKE 'u1'", &[]).await, ["r1", "r4"]);
    assert_eq!(runs(c, "artifact_uri LIKE '%r6'", &[]).await, ["r6"]);
    assert_eq!(
        runs(c, "run_id IN ('r1', 'r4', 'r7')", &[]).await,
        ["r1", "r4"]
    );
    assert_eq!(
        runs(c, "run_id NOT IN ('r1', 'r4')", &[]).await,
        ["r2", "r5", "r6"]
    );
    assert_eq!(
        runs(c, "start_time >= 100 AND start_time < 200", &[]).await,
        ["r1"]
    );
    assert_eq!(runs(c, "created > 99.5", &[]).await, ["r2", "r5", "r1"]);
    assert_eq!(runs(c, "end_time != 150", &[]).await, ["r5", "r6"]);
    assert_eq!(runs(c, "dataset.name = 'train-ds'", &[]).await, ["r1"]);
    assert_eq!(
        runs(c, "datasets.digest IN ('def', 'zzz')", &[]).await,
        ["r2"]
    );
    assert_eq!(runs(c, "dataset.context = 'training'", &[]).await, ["r1"]);
    assert_eq!(runs(c, "dataset.context != 'training'", &[]).await, ["r2"]);
    assert_eq!(
        runs(
            c,
            "dataset.name LIKE '%a%' AND dataset.context ILIKE 'EVAL'",
            &[]
        )
        .await,
        ["r2"]
    );
    // Combinations, OR and parentheses (extension).
    assert_eq!(
        runs(c, "metrics.m > 0.5 and params.p = 'x'", &[]).await,
        ["r1"]
    );
    assert_eq!(
        runs(c, "metrics.m > 2.5 OR params.p = 'x'", &[]).await,
        ["r2", "r1"]
    );
    assert_eq!(
        runs(
            c,
            "metrics.m > 2.5 OR params.p = 'x' AND tags.t = 'nope'",
            &[]
        )
        .await,
        ["r2"]
    );
    assert_eq!(
        runs(
            c,
            "(metrics.m > 2.5 OR params.p = 'x') AND tags.t = 'Foo'",
            &[]
        )
        .await,
        ["r1"]
    );
    assert_eq!(
        runs(c, "params.p IS NULL or status = 'RUNNING'", &[]).await,
        ["r2", "r5", "r4"]
    );
}

#[tokio::test]
async fn run_ordering_views_and_paging() {
    let c = &mut db().await;
    // Metric order: values, then NaN, then missing — in both directions.
    assert_eq!(
        runs(c, "", &["metrics.m DESC"]).await,
        ["r2", "r4", "r1", "r5", "r6"]
    );
    assert_eq!(
        runs(c, "", &["metrics.m"]).await,
        ["r1", "r4", "r2", "r5", "r6"]
    );
    // Params/tags: missing values last in both directions; ties by start_time DESC, run_uuid.
    assert_eq!(
        runs(c, "", &["params.p ASC"]).await,
        ["r2", "r6", "r1", "r5", "r4"]
    );
    assert_eq!(
        runs(c, "", &["params.p DESC"]).await,
        ["r1", "r6", "r2", "r5", "r4"]
    );
    assert_eq!(
        runs(c, "", &["tags.`mlflow.runName` DESC"]).await,
        ["r4", "r1", "r2", "r5", "r6"]
    );
    // Attributes: NULL last too; ordering on start_time drops the implicit start_time tail.
    assert_eq!(
        runs(c, "", &["start_time ASC"]).await,
        ["r6", "r1", "r2", "r5", "r4"]
    );
    assert_eq!(
        runs(c, "", &["created DESC"]).await,
        ["r2", "r5", "r1", "r6", "r4"]
    );
    assert_eq!(
        runs(c, "", &["end_time"]).await,
        ["r6", "r1", "r5", "r2", "r4"]
    );
    assert_eq!(
        runs(c, "", &["run_name DESC"]).await,
        ["r4", "r6", "r5", "r1", "r2"]
    );
    assert_eq!(
        runs(c, "", &["status", "metrics.m DESC"]).await,
        ["r4", "r1", "r6", "r5", "r2"]
    );
    // The filter and the sort join on the same metric.
    assert_eq!(
        runs(
            c,
            "metrics.m > 0.5 and params.p != 'zz'",
            &["metrics.m DESC"]
        )
        .await,
        ["r2", "r1"]
    );
    // Views.
    assert_eq!(
        runs_with(c, ViewType::DeletedOnly, "", &[], 10, 0).await,
        ["r3"]
    );
    assert_eq!(
        runs_with(c, ViewType::All, "", &[], 10, 0).await,
        ["r3", "r2", "r5", "r1", "r6", "r4"]
    );
    assert_eq!(
        runs_with(c, ViewType::All, "tags.t ILIKE 'FOO'", &[], 10, 0).await,
        ["r3", "r1"]
    );
    // Paging.
    assert_eq!(
        runs_with(c, ViewType::ActiveOnly, "", &[], 2, 0).await,
        ["r2", "r5"]
    );
    assert_eq!(
        runs_with(c, ViewType::ActiveOnly, "", &[], 2, 2).await,
        ["r1", "r6"]
    );
    assert_eq!(
        runs_with(c, ViewType::ActiveOnly, "", &[], 2, 4).await,
        ["r4"]
    );
    // Several experiments / none.
    let q = search_runs_query(
        Dialect::Sqlite,
        &[1, 2],
        ViewType::ActiveOnly,
        "metrics.m > 2",
        &[],
        10,
        0,
    )
    .unwrap();
    assert_eq!(run(c, q).await, ["r7", "r2"]);
    let q = search_runs_query(Dialect::Sqlite, &[], ViewType::All, "", &[], 10, 0).unwrap();
    assert!(run(c, q).await.is_empty());
}

async fn exps(
    c: &mut SqliteConnection,
    view: ViewType,
    filter: &str,
    order_by: &[&str],
) -> Vec<String> {
    let order_by: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
    let q = search_experiments_query(Dialect::Sqlite, view, filter, &order_by, 100, 0)
        .unwrap_or_else(|e| panic!("{filter}: {e}"));
    run(c, q).await
}

#[tokio::test]
async fn experiments() {
    let c = &mut db().await;
    let a = ViewType::ActiveOnly;
    // Default order creation_time DESC (NULL last on SQLite DESC), experiment_id ASC.
    assert_eq!(exps(c, a, "", &[]).await, ["4", "1", "0", "3"]);
    assert_eq!(
        exps(c, ViewType::All, "", &[]).await,
        ["4", "2", "1", "0", "3"]
    );
    assert_eq!(exps(c, ViewType::DeletedOnly, "", &[]).await, ["2"]);
    assert_eq!(exps(c, a, "name = 'exp-a'", &[]).await, ["1"]);
    assert_eq!(exps(c, ViewType::All, "name LIKE 'exp%'", &[]).await, ["1"]);
    assert_eq!(
        exps(c, ViewType::All, "name ILIKE 'exp%'", &[]).await,
        ["2", "1"]
    );
    assert_eq!(
        exps(c, a, "name != 'Default'", &["name"]).await,
        ["1", "3", "4"]
    );
    assert_eq!(exps(c, a, "experiment_id = '3'", &[]).await, ["3"]);
    assert_eq!(
        exps(c, a, "experiment_id IN ('0', '1', '2')", &[]).await,
        ["1", "0"]
    );
    assert_eq!(
        exps(c, a, "experiment_id NOT IN ('0', '1')", &[]).await,
        ["4", "3"]
    );
    assert_eq!(exps(c, a, "creation_time >= 20", &[]).await, ["4", "1"]);
    assert_eq!(
        exps(c, a, "last_update_time < 20 AND creation_time < 100", &[]).await,
        ["0"]
    );
    assert_eq!(exps(c, a, "tags.team = 'ML'", &[]).await, ["1"]);
    assert_eq!(exps(c, a, "tags.team ILIKE 'ml'", &[]).await, ["1", "3"]);
    assert_eq!(exps(c, a, "tags.team IS NULL", &[]).await, ["4", "0"]);
    assert_eq!(exps(c, a, "tags.team IS NOT NULL", &[]).await, ["1", "3"]);
    assert_eq!(
        exps(c, a, "tags.`mlflow.note.content` LIKE 'he%'", &[]).await,
        ["0"]
    );
    assert_eq!(
        exps(c, a, "tags.team = 'ML' OR name = 'Default'", &[]).await,
        ["1", "0"]
    );
    // Explicit order: SQLite ASC puts NULL first; the tie-breaker is experiment_id DESC.
    assert_eq!(
        exps(c, a, "", &["creation_time ASC"]).await,
        ["3", "0", "1", "4"]
    );
    assert_eq!(exps(c, a, "", &["name DESC"]).await, ["4", "3", "1", "0"]);
    assert_eq!(
        exps(c, a, "", &["experiment_id DESC"]).await,
        ["4", "3", "1", "0"]
    );
    let q = mlflow_search::search_experiments_query_in_workspace(
        Dialect::Sqlite,
        "default",
        a,
        "",
        &[],
        100,
        0,
    )
    .unwrap();
    assert_eq!(run(c, q).await, ["1", "0", "3"]);
}

/// A 10k-run experiment: the filter + metric sort from the brief must stay fast.
#[tokio::test]
async fn ten_thousand_runs_is_fast() {
    let c = &mut db().await;
    sqlx::raw_sql(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 10000)
         INSERT INTO runs (run_uuid, name, status, start_time, lifecycle_stage, experiment_id)
           SELECT printf('big%05d', i), 'n', 'FINISHED', i, 'active', 1 FROM seq;
         INSERT INTO latest_metrics SELECT 'm1', (run_uuid_n % 100) / 100.0, 0, 0, 0, run_uuid FROM
           (SELECT run_uuid, CAST(substr(run_uuid, 4) AS INTEGER) AS run_uuid_n FROM runs WHERE run_uuid LIKE 'big%');
         INSERT INTO latest_metrics SELECT 'm2', 1.0, 0, 0, 0, run_uuid FROM runs WHERE run_uuid LIKE 'big%';
         INSERT INTO params SELECT 'p1', CASE WHEN CAST(substr(run_uuid, 4) AS INTEGER) % 2 = 0 THEN 'x' ELSE 'y' END, run_uuid
           FROM runs WHERE run_uuid LIKE 'big%';
         INSERT INTO params SELECT 'p2', 'v', run_uuid FROM runs WHERE run_uuid LIKE 'big%';
         INSERT INTO tags SELECT 'mlflow.user', 'me', run_uuid FROM runs WHERE run_uuid LIKE 'big%';",
    )
    .execute(&mut *c)
    .await
    .expect("bulk insert");
    sqlx::raw_sql("ANALYZE")
        .execute(&mut *c)
        .await
        .expect("analyze");
    let order = vec!["metrics.m1 DESC".to_string()];
    let q = search_runs_query(
        Dialect::Sqlite,
        &[1],
        ViewType::ActiveOnly,
        "metrics.m1 > 0.5 and params.p1 = 'x'",
        &order,
        1001,
        0,
    )
    .unwrap();
    // Warm up once, then time.
    let first = run(c, q.clone()).await;
    let started = std::time::Instant::now();
    let ids = run(c, q).await;
    let elapsed = started.elapsed();
    assert_eq!(ids, first);
    assert_eq!(ids.len(), 1001);
    // m1 = (i % 100) / 100 → the best even i has i % 100 == 98.
    assert!(
        ids[0].starts_with("big") && ids[0].ends_with("98"),
        "{}",
        ids[0]
    );
    eprintln!("10k-run search took {elapsed:?}");
    // Generous bound for an unoptimised debug build on a shared machine.
    assert!(elapsed.as_millis() < 1500, "too slow: {elapsed:?}");
}
