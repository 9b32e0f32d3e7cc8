#!/usr/bin/env bash
# Runs every test: Rust unit + HTTP integration tests (SQLite, PostgreSQL, MariaDB) and the
# compatibility suite that drives our server with the official MLflow 3.17.2 Python client
# (SQLite and PostgreSQL, including the in-place database test).
#
# Set-up is part of the run: it creates .venv with the official client if missing and checks
# that the local PostgreSQL/MariaDB answer (starting them if they are installed but stopped).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PG_URL=${MLFLOW_RS_TEST_POSTGRES-postgresql://postgres@127.0.0.1:5432/test}
MYSQL_URL=${MLFLOW_RS_TEST_MYSQL-mysql://root@127.0.0.1:3306/test}

log() { printf '\n=== %s\n' "$*"; }

ensure_services() {
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  if ! mysqladmin -h 127.0.0.1 -u root status >/dev/null 2>&1; then
    log "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    for _ in $(seq 1 30); do mysqladmin -h 127.0.0.1 -u root status >/dev/null 2>&1 && break; sleep 1; done
  fi
}

ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    log "creating .venv for the official MLflow client"
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
  fi
  # Cheap when everything is already installed; picks up new pins otherwise.
  .venv/bin/pip install -q -r tests/compat/requirements.txt
}

ensure_services
ensure_venv

log "cargo build (once; tests and the compat suite share target/debug)"
cargo build --workspace --all-targets --locked

log "Rust tests (SQLite + PostgreSQL + MariaDB)"
MLFLOW_RS_TEST_POSTGRES=$PG_URL MLFLOW_RS_TEST_MYSQL=$MYSQL_URL \
  cargo nextest run --workspace --locked --no-fail-fast --retries 2

log "doc tests (rustdoc examples compile; pure ones run)"
cargo test --workspace --doc --locked

export MLFLOW_RS_BIN=$ROOT/target/debug/mlflow-rs
for backend in sqlite postgres; do
  log "compatibility suite with the official client, backend=$backend"
  COMPAT_BACKEND=$backend .venv/bin/python -m pytest tests/compat -q -p no:cacheprovider \
    --reruns 2 --reruns-delay 2
done
