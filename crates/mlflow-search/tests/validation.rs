//! Error messages, checked against the official 3.17.2 texts (captured by running
//! `SearchUtils.parse_search_filter` + the SQL store's checks on the same inputs). Python prints
//! sets in hash order; we print them sorted.

use mlflow_search::experiments::{parse_experiments_filter, parse_experiments_order_by};
use mlflow_search::runs::{parse_runs_filter, parse_runs_order_by};

fn run_err(filter: &str) -> String {
    match parse_runs_filter(filter) {
        Err(e) => e.message,
        Ok(f) => panic!("{filter}: expected an error, got {f:?}"),
    }
}

fn exp_err(filter: &str) -> String {
    match parse_experiments_filter(filter) {
        Err(e) => e.message,
        Ok(f) => panic!("{filter}: expected an error, got {f:?}"),
    }
}

fn run_order_err(order_by: &[&str]) -> String {
    let v: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
    match parse_runs_order_by(&v) {
        Err(e) => e.message,
        Ok(f) => panic!("{order_by:?}: expected an error, got {f:?}"),
    }
}

const STRING_ATTR: &str = "{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN'}";
const METRIC: &str = "{'!=', '<', '<=', '=', '>', '>='}";
const PARAM: &str = "{'!=', '=', 'ILIKE', 'IS NOT NULL', 'IS NULL', 'LIKE'}";

#[test]
fn valid_run_filters() {
    for f in [
        "",
        "   ",
        "metrics.x > -5",
        "metrics.x > 1e3",
        "metrics.x > 1.5E-3",
        "metrics.x > .5",
        "metrics.x > 5.",
        "metrics.x >= 1 and params.p = 'a'",
        "params.p = \"a\"",
        "params.p like 'a%'",
        "params.p ilike 'a%'",
        "tags.mlflow.runName = 'x'",
        "tags.`mlflow.runName` = 'x'",
        "tags.\"mlflow.runName\" = 'x'",
        "metrics.\"my metric\" > 1",
        "`metrics`.x > 1",
        "start_time > 5.5",
        "start_time > -5",
        "created > 5",
        "Created > 5",
        "`run name` = 'a'",
        "\"run name\" = 'a'",
        "attributes.`Run Name` = 'a'",
        "attribute.`Run name` = 'a'",
        "run_id IN ('a', 'b')",
        "run_id not in ('a', \"b\")",
        "run_id IN ('a',)",
        "dataset.name = 'x'",
        "datasets.context IN ('train')",
        "dataset.digest != 'x'",
        "params.p IS NULL",
        "params.p is not null",
        "tags.t IS NOT NULL",
        "metrics.m != 1",
        "metrics.m <> 1",
        "tags.t = ''",
        "param.p = 'a'",
        "parameter.p = 'a'",
        "parameters.p = 'a'",
        "run.status = 'RUNNING'",
        "attr.status = 'RUNNING'",
        "tag.t = 'a'",
        "metric.m = 1",
        "params.p.q = 'a'",
        "params.p='a'AND params.q='b'",
        "metrics.m>1",
        "metrics.m1 > 0.5 OR (params.p1 = 'x' AND tags.t LIKE '%y')",
        "status = 'RUNNING' ",
    ] {
        if let Err(e) = parse_runs_filter(f) {
            panic!("{f:?}: {e}");
        }
    }
    assert!(parse_runs_filter("  ").unwrap().is_none());
}

#[test]
fn run_filter_errors() {
    let cases: Vec<(&str, String)> = vec![
        ("metrics.x > '1'", "Expected numeric value type for metric. Found '1'".into()),
        ("metrics.m > 1_000", "Expected numeric value type for metric. Found 1_000".into()),
        ("metrics.m > 0x10", "Expected numeric value type for metric. Found 0x10".into()),
        ("metrics.m in (1,2)", "Expected numeric value type for metric. Found (1,2)".into()),
        (
            "params.p = a",
            "Parameter value is either not quoted or unidentified quote types used for string value a. \
             Use either single or double quotes."
                .into(),
        ),
        (
            "params.p = 1",
            "Expected a quoted string value for parameter (e.g. 'my-value'). Got value 1".into(),
        ),
        (
            "params.p in ('a')",
            "Expected a quoted string value for parameter (e.g. 'my-value'). Got value ('a')".into(),
        ),
        (
            "tags.t = 2",
            "Expected a quoted string value for tag (e.g. 'my-value'). Got value 2".into(),
        ),
        (
            "METRICS.x > 1",
            "Invalid entity type 'METRICS'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']".into(),
        ),
        (
            "foo.x > 1",
            "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']".into(),
        ),
        (
            "start_time > '5'",
            "Expected numeric value type for numeric attribute: start_time. Found '5'".into(),
        ),
        (
            "status in ('a')",
            "Only ['run_id'] attributes support comparison with a list of quoted string values.".into(),
        ),
        ("run_id = 5", "Expected a quoted string value for attributes. Got value 5".into()),
        (
            "foo = 'a'",
            "Invalid attribute key 'foo' specified. Valid keys are '{'Created', 'Run Name', 'Run name', \
             'artifact_uri', 'created', 'end_time', 'run name', 'run_id', 'run_name', 'start_time', 'status', 'user_id'}'"
                .into(),
        ),
        (
            "`RUN NAME` = 'a'",
            "Invalid attribute key 'RUN NAME' specified. Valid keys are '{'Created', 'Run Name', 'Run name', \
             'artifact_uri', 'created', 'end_time', 'run name', 'run_id', 'run_name', 'start_time', 'status', 'user_id'}'"
                .into(),
        ),
        (
            "dataset.foo = 'x'",
            "Invalid dataset key 'foo' specified. Valid keys are '{'context', 'digest', 'name'}'".into(),
        ),
        (
            "metrics.m IS NULL",
            "IS NULL / IS NOT NULL is only supported for tags and params, not for 'metric' 'm'".into(),
        ),
        (
            "run_id IS NULL",
            "IS NULL / IS NOT NULL is only supported for tags and params, not for 'attribute' 'run_id'".into(),
        ),
        (
            "dataset.name IS NULL",
            "IS NULL / IS NOT NULL is only supported for tags and params, not for 'dataset' 'name'".into(),
        ),
        ("params.p > 'a'", format!("Invalid comparator '>' not one of '{PARAM}'")),
        ("tags.t < 'a'", format!("Invalid comparator '<' not one of '{PARAM}")),
        ("metrics.m LIKE 1", format!("Invalid comparator 'LIKE' not one of '{METRIC}")),
        ("start_time LIKE 5", format!("Invalid comparator 'LIKE' not one of '{STRING_ATTR}")),
        ("status > 'a'", format!("Invalid comparator '>' not one of '{STRING_ATTR}'")),
        ("dataset.name > 'a'", format!("Invalid comparator '>' not one of '{STRING_ATTR}")),
        ("params.p RLIKE 'a'", format!("Invalid comparator 'RLIKE' not one of '{PARAM}'")),
        (
            "run_id IN ()",
            "While parsing a list in the query, expected a non-empty list of string values, but got empty list".into(),
        ),
        (
            "run_id IN (1, 2)",
            "While parsing a list in the query, expected string value, punctuation, or whitespace, but got \
             different type in list: (1, 2)"
                .into(),
        ),
        (
            "run_id IN ('a' 'b')",
            "While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list."
                .into(),
        ),
        ("metrics.m", "Invalid clause(s) in filter string: 'metrics.m'".into()),
        ("metrics.m > ", "Invalid clause(s) in filter string: 'metrics.m', '>'".into()),
        ("metrics.m > 1;", "Invalid clause(s) in filter string: ';'".into()),
        (
            "params.p = 'a' AND NOT params.q = 'b'",
            "Invalid clause(s) in filter string: 'NOT', 'params.q', '=', ''b''".into(),
        ),
        ("metrics.m > +1", "Invalid clause(s) in filter string: 'metrics.m', '>', '+', '1'".into()),
    ];
    for (filter, expected) in cases {
        assert_eq!(run_err(filter), expected, "{filter}");
    }
}

#[test]
fn run_errors_follow_official_order() {
    // Identifier/value errors of any clause beat operator errors of an earlier clause.
    assert_eq!(
        run_err("params.p > 'a' AND foo.x = 'b'"),
        "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"
    );
    // Syntax errors beat everything.
    assert!(run_err("foo.x = 'b' AND metrics.m").starts_with("Invalid clause(s)"));
}

#[test]
fn run_order_by() {
    let ok = |o: &[&str]| {
        let v: Vec<String> = o.iter().map(|s| s.to_string()).collect();
        parse_runs_order_by(&v).unwrap_or_else(|e| panic!("{o:?}: {e}"))
    };
    assert_eq!(
        ok(&[
            "metrics.m DESC",
            "params.p",
            "tags.`a b` asc",
            "created",
            "run_name",
            "attr.status"
        ])
        .len(),
        6
    );
    assert!(!ok(&["metrics.`m x` desc"])[0].ascending);
    let orderable = "{'Created', 'artifact_uri', 'created', 'end_time', 'run_id', 'run_name', 'start_time', 'status', 'user_id'}";
    assert_eq!(
        run_order_err(&["foo"]),
        format!("Invalid attribute key 'foo' specified. Valid keys are '{orderable}'")
    );
    assert_eq!(
        run_order_err(&["`run name`"]),
        format!("Invalid attribute key 'run name' specified. Valid keys are '{orderable}'")
    );
    assert_eq!(
        run_order_err(&["run name"]),
        "Invalid ordering key in order_by clause 'run name'."
    );
    assert_eq!(
        run_order_err(&["metrics.m DOWN"]),
        "Invalid ordering key in order_by clause 'metrics.m DOWN'."
    );
    assert_eq!(
        run_order_err(&["metrics.m DESC extra"]),
        "Invalid order_by clause 'metrics.m DESC extra'. Could not be parsed."
    );
    assert_eq!(
        run_order_err(&["dataset.name"]),
        "Invalid identifier type 'dataset'"
    );
    assert_eq!(
        run_order_err(&["start_time", "created"]),
        "`order_by` contains duplicate fields: ['start_time', 'created']"
    );
    assert_eq!(
        run_order_err(&["metrics.m", "metric.m DESC"]),
        "`order_by` contains duplicate fields: ['metrics.m', 'metric.m DESC']"
    );
    // Different entities with the same key are not duplicates.
    assert_eq!(ok(&["metrics.a", "params.a", "tags.a"]).len(), 3);
}

#[test]
fn experiment_filters() {
    for f in [
        "name = 'a'",
        "name LIKE 'a%'",
        "name like 'a%'",
        "name ILIKE 'a%'",
        "experiment_id = '1'",
        "experiment_id IN ('1','2')",
        "experiment_id NOT IN ('1')",
        "creation_time > 5",
        "last_update_time <= -1",
        "tags.t = 'a'",
        "tag.t = 'a'",
        "tags.t IS NULL",
        "tags.t is not null",
        "attribute.name = 'a'",
        "name = 'a' AND tags.t = 'b'",
        "name = 'a' OR tags.t = 'b'",
    ] {
        if let Err(e) = parse_experiments_filter(f) {
            panic!("{f:?}: {e}");
        }
    }
    let keys = "{'creation_time', 'experiment_id', 'last_update_time', 'name'}";
    let cases: Vec<(&str, String)> = vec![
        (
            "name IN ('a')",
            "Only ['experiment_id'] attributes support comparison with a list of quoted string values.".into(),
        ),
        ("name > 'a'", format!("Invalid comparator '>' not one of '{STRING_ATTR}'")),
        ("experiment_id = 1", "Expected a quoted string value for attributes. Got value 1".into()),
        (
            "experiment_id = 'abc'",
            "Invalid experiment ID 'abc'. Experiment ID must be a valid integer.".into(),
        ),
        (
            "experiment_id IN ('1', 'x')",
            "Invalid experiment ID 'x'. Experiment ID must be a valid integer.".into(),
        ),
        ("experiment_id > '1'", "Invalid comparator for experiment_id: >".into()),
        ("experiment_id LIKE '1'", "Invalid comparator for experiment_id: LIKE".into()),
        ("creation_time > 5.5", "Invalid value for numeric attribute 'creation_time': '5.5'".into()),
        ("creation_time > 1e3", "Invalid value for numeric attribute 'creation_time': '1000.0'".into()),
        (
            "creation_time > '5'",
            "Expected numeric value type for numeric attribute: creation_time. Found '5'".into(),
        ),
        ("creation_time LIKE 5", format!("Invalid comparator 'LIKE' not one of '{STRING_ATTR}")),
        ("tags.t > 'a'", "Invalid comparator for tag: >".into()),
        (
            "tags.t IN ('a')",
            "Expected a quoted string value for tag (e.g. 'my-value'). Got value ('a')".into(),
        ),
        (
            "attributes.name = 'a'",
            "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', 'tags')".into(),
        ),
        (
            "metrics.m > 1",
            "Invalid entity type 'metrics'. Valid entity types are ('attribute', 'tag', 'tags')".into(),
        ),
        ("foo = 'a'", format!("Invalid attribute key 'foo' specified. Valid keys are '{keys}'")),
        (
            "lifecycle_stage = 'active'",
            format!("Invalid attribute key 'lifecycle_stage' specified. Valid keys are '{keys}'"),
        ),
        (
            "name IS NULL",
            "IS NULL / IS NOT NULL is only supported for tags, not for attribute 'name'".into(),
        ),
        ("name = 'a' AND", "Invalid clause(s) in filter string: AND".into()),
        ("name = 'a' tags.t", "Invalid clause(s) in filter string: tags.t".into()),
    ];
    for (filter, expected) in cases {
        assert_eq!(exp_err(filter), expected, "{filter}");
    }
}

#[test]
fn experiment_order_by() {
    let parse = |o: &[&str]| {
        let v: Vec<String> = o.iter().map(|s| s.to_string()).collect();
        parse_experiments_order_by(&v)
    };
    assert_eq!(parse(&[]).unwrap().len(), 2);
    assert_eq!(parse(&["name DESC"]).unwrap().len(), 2); // + experiment_id DESC
    assert_eq!(parse(&["experiment_id ASC"]).unwrap().len(), 1);
    assert_eq!(
        parse(&["tags.t"]).unwrap_err().message,
        "Invalid order_by entity: tag"
    );
    assert_eq!(
        parse(&["foo"]).unwrap_err().message,
        "Invalid attribute key 'foo' specified. Valid keys are '{'creation_time', 'experiment_id', 'last_update_time', 'name'}'"
    );
}
