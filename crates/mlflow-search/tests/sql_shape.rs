//! Generated SQL text and binds per dialect (Postgres / MySQL cannot be executed here).

use mlflow_search::{Dialect, SqlValue, ViewType, search_experiments_query, search_runs_query};

fn t(s: &str) -> SqlValue {
    SqlValue::Text(s.to_owned())
}

fn runs(d: Dialect, filter: &str, order_by: &[&str]) -> mlflow_search::SqlQuery {
    let o: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
    search_runs_query(d, &[1, 2], ViewType::ActiveOnly, filter, &o, 101, 20)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn runs_full_statement_postgres() {
    let q = runs(
        Dialect::Postgres,
        "metrics.m1 > 0.5 and params.p1 = 'x'",
        &["metrics.m1 DESC"],
    );
    assert_eq!(
        q.sql,
        "SELECT runs.run_uuid FROM runs \
         LEFT OUTER JOIN latest_metrics ob1 ON ob1.run_uuid = runs.run_uuid AND ob1.\"key\" = ? \
         WHERE runs.experiment_id IN (?, ?) AND runs.lifecycle_stage IN ('active') AND \
         (EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = runs.run_uuid AND m.\"key\" = ? \
         AND m.value > ? AND m.is_nan = false) AND \
         EXISTS (SELECT 1 FROM params p WHERE p.run_uuid = runs.run_uuid AND p.\"key\" = ? AND p.value = ?)) \
         ORDER BY CASE WHEN ob1.is_nan = true THEN 1 WHEN ob1.value IS NULL THEN 2 ELSE 0 END, ob1.value DESC, \
         runs.start_time DESC, runs.run_uuid ASC LIMIT ? OFFSET ?"
    );
    assert_eq!(
        q.binds,
        vec![
            t("m1"),
            SqlValue::Int(1),
            SqlValue::Int(2),
            t("m1"),
            SqlValue::Float(0.5),
            t("p1"),
            t("x"),
            SqlValue::Int(101),
            SqlValue::Int(20),
        ]
    );
    assert_eq!(q.sql.matches('?').count(), q.binds.len());
}

#[test]
fn runs_mysql_is_binary_and_backticks_key() {
    let q = runs(
        Dialect::MySql,
        "params.p LIKE 'a%' AND run_id IN ('r1') AND tags.t ILIKE 'X'",
        &[],
    );
    assert!(
        q.sql.contains("p.`key` = ? AND BINARY p.`key` = ?"),
        "{}",
        q.sql
    );
    assert!(
        q.sql.contains("(p.value LIKE ? AND BINARY p.value LIKE ?)"),
        "{}",
        q.sql
    );
    assert!(q.sql.contains("(BINARY runs.run_uuid IN (?))"), "{}", q.sql);
    assert!(q.sql.contains("LOWER(t.value) LIKE LOWER(?)"), "{}", q.sql);
    assert!(!q.sql.contains('"'), "{}", q.sql);
    assert_eq!(q.sql.matches('?').count(), q.binds.len());
    let q = runs(Dialect::MySql, "metrics.m != 1", &[]);
    assert!(
        q.sql.contains("(m.value != ? OR m.is_nan = 1)"),
        "{}",
        q.sql
    );
}

#[test]
fn runs_sqlite_like_becomes_glob() {
    let q = runs(Dialect::Sqlite, "params.p LIKE 'a%_*'", &[]);
    assert!(q.sql.contains("p.value GLOB ?"), "{}", q.sql);
    assert!(q.binds.contains(&t("a*?[*]")));
    let q = runs(Dialect::Sqlite, "params.p ILIKE 'A%'", &[]);
    assert!(q.sql.contains("LOWER(p.value) LIKE LOWER(?)"), "{}", q.sql);
    let q = runs(Dialect::Postgres, "params.p ILIKE 'A%'", &[]);
    assert!(q.sql.contains("p.value ILIKE ?"), "{}", q.sql);
    let q = runs(Dialect::Sqlite, "metrics.m = 1", &[]);
    assert!(q.sql.contains("m.value = ? AND m.is_nan = 0"), "{}", q.sql);
}

#[test]
fn runs_or_parentheses_and_null_tests() {
    let q = runs(
        Dialect::Postgres,
        "params.a IS NULL OR (tags.b IS NOT NULL AND status = 'RUNNING')",
        &[],
    );
    assert!(
        q.sql.contains(
            "(NOT EXISTS (SELECT 1 FROM params p WHERE p.run_uuid = runs.run_uuid AND p.\"key\" = ?) OR \
             (EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = runs.run_uuid AND t.\"key\" = ?) AND runs.status = ?))"
        ),
        "{}",
        q.sql
    );
}

#[test]
fn runs_order_by_attribute_and_tail() {
    let q = runs(Dialect::Sqlite, "", &["created ASC", "tags.t DESC"]);
    assert!(
        q.sql.ends_with(
            "ORDER BY CASE WHEN runs.start_time IS NULL THEN 1 ELSE 0 END, runs.start_time ASC, \
             CASE WHEN ob2.value IS NULL THEN 1 ELSE 0 END, ob2.value DESC, runs.run_uuid ASC LIMIT ? OFFSET ?"
        ),
        "{}",
        q.sql
    );
    assert!(
        q.sql.contains(
            "LEFT OUTER JOIN tags ob2 ON ob2.run_uuid = runs.run_uuid AND ob2.\"key\" = ?"
        )
    );
}

#[test]
fn runs_dataset_and_run_name() {
    let q = runs(
        Dialect::Postgres,
        "dataset.context = 'train' AND run_name = 'x'",
        &[],
    );
    assert!(
        q.sql
            .contains("JOIN input_tags it ON it.input_uuid = i.input_uuid"),
        "{}",
        q.sql
    );
    assert!(q.sql.contains("it.name = ? AND it.value = ?"), "{}", q.sql);
    assert!(q.sql.contains("t.\"key\" = ? AND t.value = ?"), "{}", q.sql);
    assert_eq!(
        &q.binds[2..6],
        &[
            t("mlflow.data.context"),
            t("train"),
            t("mlflow.runName"),
            t("x")
        ]
    );
}

#[test]
fn user_values_are_never_in_sql_text() {
    let nasty = "x'); DROP TABLE runs; --";
    let filter = format!("params.\"{nasty}\" = \"{nasty}\" OR tags.`{nasty}` LIKE \"{nasty}\"");
    for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
        let q = search_runs_query(
            d,
            &[0],
            ViewType::All,
            &filter,
            &[format!("params.`{nasty}` DESC")],
            1,
            0,
        )
        .unwrap();
        assert!(!q.sql.contains("DROP"), "{}", q.sql);
        assert_eq!(q.sql.matches('?').count(), q.binds.len());
    }
}

#[test]
fn experiments_statement() {
    let q = search_experiments_query(
        Dialect::Postgres,
        ViewType::All,
        "name ILIKE 'a%' AND tags.team = 'ml' AND experiment_id NOT IN ('1', '2')",
        &[],
        1001,
        0,
    )
    .unwrap();
    assert_eq!(
        q.sql,
        "SELECT experiments.experiment_id FROM experiments WHERE experiments.lifecycle_stage IN ('active', 'deleted') \
         AND (experiments.name ILIKE ? AND EXISTS (SELECT 1 FROM experiment_tags et WHERE \
         et.experiment_id = experiments.experiment_id AND et.\"key\" = ? AND et.value = ?) AND \
         (experiments.experiment_id NOT IN (?, ?))) \
         ORDER BY experiments.creation_time DESC, experiments.experiment_id ASC LIMIT ? OFFSET ?"
    );
    assert_eq!(
        q.binds,
        vec![
            t("a%"),
            t("team"),
            t("ml"),
            SqlValue::Int(1),
            SqlValue::Int(2),
            SqlValue::Int(1001),
            SqlValue::Int(0)
        ]
    );
    let q = search_experiments_query(
        Dialect::MySql,
        ViewType::ActiveOnly,
        "name = 'A'",
        &["name".into()],
        10,
        0,
    )
    .unwrap();
    assert!(
        q.sql
            .contains("(experiments.name = ? AND BINARY experiments.name = ?)"),
        "{}",
        q.sql
    );
    assert!(q.sql.ends_with(
        "ORDER BY experiments.name ASC, experiments.experiment_id DESC LIMIT ? OFFSET ?"
    ));
}

/// No input may panic; every result is either an error or SQL whose placeholder count matches.
#[test]
fn random_inputs_never_panic() {
    let alphabet: Vec<char> =
        "abmetricsparamtagsdtun_.`\"' ()=!<>,-+%0123456789eEANDORINISNOTNULLLIKE;\\é\u{0}\t"
            .chars()
            .collect();
    let words = [
        "metrics.m",
        "params.p",
        "tags.t",
        "run_id",
        "start_time",
        " AND ",
        " OR ",
        " IN ",
        " NOT ",
        " IS ",
        " NULL ",
        "(",
        ")",
        "'a'",
        "\"b\"",
        "1.5",
        "-2",
        "=",
        "!=",
        "<=",
        "LIKE",
        "ILIKE",
        ",",
        "`",
        "dataset.name",
        "name",
        "experiment_id",
        "creation_time",
        "'1'",
    ];
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..20_000 {
        let len = (next() % 24) as usize;
        let mut s = String::new();
        for _ in 0..len {
            if round % 2 == 0 {
                s.push(alphabet[(next() % alphabet.len() as u64) as usize]);
            } else {
                s.push_str(words[(next() % words.len() as u64) as usize]);
                s.push(' ');
            }
        }
        for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            if let Ok(q) = search_runs_query(d, &[1], ViewType::All, &s, &[s.clone()], 10, 0) {
                assert_eq!(q.sql.matches('?').count(), q.binds.len(), "{s}");
            }
            let _ = search_runs_query(d, &[1], ViewType::All, &s, &[], 10, 0);
            if let Ok(q) = search_experiments_query(d, ViewType::All, &s, &[], 10, 0) {
                assert_eq!(q.sql.matches('?').count(), q.binds.len(), "{s}");
            }
        }
    }
}
