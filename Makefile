# crm360 — the commands a user runs. Every target creates or reuses .venv from the lock.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCALE ?= small
FROM ?=
TO ?=

export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export DO_NOT_TRACK := 1

.PHONY: venv demo test lint unit dags integration bench backfill clean up down lock

venv: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m pip check
	@touch $(STAMP)

## make demo: generate a small company, start the sandbox Salesforce, run crm360_nightly, print a summary
demo: $(STAMP)
	$(PY) -m sandbox.demo

## make test: lint, then unit, DAG-integrity and integration tests (what CI runs)
test: $(STAMP) lint
	$(PY) -m pytest tests/unit tests/dags tests/integration -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/sqlfluff lint dbt_project/models dbt_project/macros --disable-progress-bar

## make bench SCALE=small|100k|1m|5m: run the benchmark and record bench/results
bench: $(STAMP)
	$(PY) -m bench.run --scale $(SCALE)

## make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD: queue backfill runs (never writes to Salesforce)
backfill: $(STAMP)
	@test -n "$(FROM)" -a -n "$(TO)" || (echo "usage: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD" >&2; exit 2)
	$(PY) -m sandbox.demo backfill --from-date $(FROM) --to-date $(TO)

## make up / make down: the production-shaped stack (needs a Docker engine)
up:
	@test -f .env || cp .env.example .env
	docker compose up -d --build

down:
	docker compose down

clean:
	rm -rf .airflow .sandbox .demo warehouse data reports logs dbt_project/target dbt_project/logs \
	  expectations/uncommitted .pytest_cache .ruff_cache

## make lock: rebuild requirements/lock.txt from requirements/base.in in a scratch venv
lock:
	rm -rf /tmp/crm360-lock && $(PYTHON) -m venv /tmp/crm360-lock
	/tmp/crm360-lock/bin/pip install --quiet -r requirements/base.in
	/tmp/crm360-lock/bin/pip check
	(echo "# crm360 lock: exact versions that install together (pip check clean) on Python 3.11."; \
	 echo "# Regenerate: make lock (pip freeze of a working .venv built from requirements/base.in)."; \
	 /tmp/crm360-lock/bin/pip freeze --exclude-editable) > requirements/lock.txt
