# airflow-mlops: `make demo` and `make test` build whatever is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT := $(abspath .)
PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := $(ROOT)/.tools
UV := $(TOOLS)/bin/uv
LOCK_PLATFORM := --python-version 3.11 --python-platform x86_64-manylinux_2_36

AIRFLOW_VENV := $(ROOT)/.venv
RUNTIME_VENV := $(ROOT)/.venv-runtime
# The control plane on the lowest supported Airflow (requirements/airflow-min.lock.txt); tests only.
AIRFLOW_MIN_VENV := $(ROOT)/.venv-airflow-min

# The embedded default: Airflow's home, its SQLite database and every artifact stay under .mlops/.
export AIRFLOW_HOME ?= $(ROOT)/.mlops/airflow
export AIRFLOW__CORE__DAGS_FOLDER ?= $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER ?= $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False
export AIRFLOW__MLOPS__RUNTIME_PYTHON ?= $(RUNTIME_VENV)/bin/python
# A GCS emulator makes recent gcsfs wait 60 s per bucket on a gRPC probe; the probe is not needed.
export GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT ?= false

.PHONY: help setup lock lint demo demo-cloud demo-loop loop-ui drill schema serve stop status rollback test test-runtime test-control test-control-min benchmark benchmark-pipeline benchmark-serving benchmark-monitoring benchmark-dag-parse benchmark-ingest benchmark-large-data benchmark-batch-prediction cloudbuild image-runtime clean clean-all

help:
	@echo "make demo   - build what is missing, run the penguin pipeline on the embedded default (PIPELINE=diabetes: the regression)"
	@echo "make test   - build what is missing, run every test, then make lint"
	@echo "make lint   - ruff on the whole tree, mypy on the contract, the artifact store and the provider"
	@echo "make demo-cloud - the penguin pipeline on a local cloud: pods, a Vertex AI GPU job, gs:// artifacts"
	@echo "make demo-loop - drift -> retraining -> canary -> promotion and new data -> training, with a real scheduler (own state in .mlops/loop)"
	@echo "make loop-ui - the Airflow UI (airflow standalone) on the state the last demo-loop left"
	@echo "make drill  - kill drill: SIGKILL scheduler, triggerer, components, server in the loop; check nothing lost (PostgreSQL, ~15 min)"
	@echo "make setup  - build .venv (Airflow) and .venv-runtime (ML runtime) from the lock files"
	@echo "make test-control-min - the control-plane tests on the lowest supported Airflow (3.1.8, .venv-airflow-min)"
	@echo "make lock   - re-resolve requirements/*.lock.txt from pyproject.toml"
	@echo "make cloudbuild - render the Cloud Build config and trigger of each environment in cicd/environments.yaml"
	@echo "make schema - regenerate include/penguin/schema.pbtxt from the data (review, then commit)"
	@echo "make serve  - start the prediction server on 127.0.0.1:3000 in the background; make stop stops it"
	@echo "make status - what serves (champion, canary) and the deployment history"
	@echo "make rollback - move champion back to the previous version (REASON=...)"
	@echo "make clean  - remove .mlops/ (artifacts, Airflow home); clean-all also the environments"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

setup: $(AIRFLOW_VENV)/.installed $(RUNTIME_VENV)/.installed

# An environment is synced to exactly its lock file, and only when the lock (or pyproject) changed.
# Bytecode is compiled at install time: without it every component process recompiles
# TensorFlow's imports (30 s instead of 8-10 s) because PYTHONDONTWRITEBYTECODE is set here.
# <extra lock> is installed after the sync (a sync removes whatever its lock does not list).
# $(call build-venv,<venv>,<lock>,<what>[,<extra lock>])
define build-venv
	@echo ">> building $(1) ($(3))"; start=$$(date +%s); \
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(1) && \
	VIRTUAL_ENV=$(1) $(UV) pip sync --quiet --compile-bytecode $(2) && \
	$(if $(4),VIRTUAL_ENV=$(1) $(UV) pip install --quiet --compile-bytecode -r $(4) &&) \
	VIRTUAL_ENV=$(1) $(UV) pip install --quiet --no-deps -e . && \
	echo ">> $(1) ready in $$(( $$(date +%s) - start )) s"
	@touch $(1)/.installed
endef

# The control plane's env also gets the lint, type-check and build tools (requirements/lint.lock.txt).
$(AIRFLOW_VENV)/.installed: requirements/airflow.lock.txt requirements/lint.lock.txt pyproject.toml | $(UV)
	$(call build-venv,$(AIRFLOW_VENV),requirements/airflow.lock.txt,control plane,requirements/lint.lock.txt)

$(AIRFLOW_MIN_VENV)/.installed: requirements/airflow-min.lock.txt pyproject.toml | $(UV)
	$(call build-venv,$(AIRFLOW_MIN_VENV),requirements/airflow-min.lock.txt,control plane on the lowest supported Airflow)

$(RUNTIME_VENV)/.installed: requirements/runtime.lock.txt pyproject.toml runtime/pyproject.toml | $(UV)
	$(call build-venv,$(RUNTIME_VENV),requirements/runtime.lock.txt,runtime plane)

lock: | $(UV)
	$(UV) pip compile --quiet $(LOCK_PLATFORM) pyproject.toml --extra airflow --extra google --extra kubernetes --extra dev -o requirements/airflow.lock.txt
	$(UV) pip compile --quiet $(LOCK_PLATFORM) pyproject.toml requirements/airflow-min.in --extra airflow --extra google --extra kubernetes --extra dev -o requirements/airflow-min.lock.txt
	$(UV) pip compile --quiet $(LOCK_PLATFORM) pyproject.toml runtime/pyproject.toml --extra dev --extra fuzz --no-emit-package airflow-mlops -o requirements/runtime.lock.txt
	$(UV) pip compile --quiet $(LOCK_PLATFORM) requirements/lint.in -c requirements/airflow.lock.txt -o requirements/lint.lock.txt

# Tests of the runtime plane run in its environment, the rest in Airflow's; the contract and the
# artifact store are tested in both, since both planes import them.
RUNTIME_TESTS := tests/contract tests/artifacts tests/runtime
CONTROL_TESTS := tests/contract tests/artifacts tests/cicd tests/provider tests/dags tests/local_cloud tests/test_provider_info.py tests/test_layout.py tests/test_packaging.py tests/test_images.py tests/test_drill_checks.py

# The control plane again on the lowest supported Airflow (3.1.8, .venv-airflow-min), less the
# packaging test (it builds the wheels with .venv's hatchling; the Airflow version plays no part)
# and the real-scheduler test (minutes of a live scheduler; the dags tests run every DAG with
# `airflow dags test` there too), the whole run on the local cloud (the launchers, triggers and
# fakes are tested on 3.1.8 by tests/provider and tests/local_cloud), and the example pipelines'
# own models (the runtime plane's work, the same on either Airflow; penguin_training runs there).
# Runs of penguin_training whose point is what the runtime rejects (the same on either Airflow):
# on 3.3 only. The training runs, promotion and rollback DAGs still run on 3.1.8.
RUNTIME_FAILURE_RUNS := test_a_model_that_is_not_blessed_is_not_registered_and_the_run_succeeds \
  test_corrupted_data_fails_at_validate_and_the_champion_stays test_bad_source_fails_the_run_with_the_components_message
# The approval and browser tests (tests/dags/test_approval.py, test_browser.py) use the real-scheduler
# tests' standalone: 3.3 only. The data-arrival DAG's run (test_data_arrival.py) too: its sensor and
# trigger are tested on 3.1.8 by tests/provider.
CONTROL_MIN_TESTS := $(filter-out tests/test_packaging.py,$(CONTROL_TESTS)) --ignore=tests/dags/test_scheduler.py --ignore=tests/dags/test_approval.py --ignore=tests/dags/test_browser.py --ignore=tests/dags/test_local_cloud.py \
  --ignore=tests/dags/test_examples.py --ignore=tests/dags/test_data_arrival.py $(addprefix --deselect=tests/dags/test_dags.py::,$(RUNTIME_FAILURE_RUNS))

# the slowest tests are listed after each suite (where the 30-minute budget goes)
PYTEST_ARGS ?= --durations=12

# The three environments are built side by side. Then the runtime suite runs beside a lane of the
# lowest-Airflow control suite, the control suite but its DAG runs, and lint (different environments,
# mostly one core each, and much of it waiting on servers and subprocesses); each one's output is
# shown whole when it ends. Then the DAG runs (tests/dags: airflow dags test, a real scheduler), alone.
test:
	$(MAKE) --no-print-directory -j2 setup $(AIRFLOW_MIN_VENV)/.installed
	$(MAKE) --no-print-directory -j2 --output-sync=target test-runtime test-control-lane
	$(MAKE) --no-print-directory test-control-dags

.PHONY: test-control-lane test-control-fast test-control-dags
test-control-lane:
	$(MAKE) --no-print-directory test-control-min
	$(MAKE) --no-print-directory test-control-fast
	$(MAKE) --no-print-directory lint

# ruff (rules in pyproject.toml) on the whole tree, mypy on the contract, the artifact store and the
# control plane ([tool.mypy] files); both from the control plane's env.
# Both always run; lint fails if either found something.
lint: $(AIRFLOW_VENV)/.installed
	cd $(ROOT) && status=0; \
	$(AIRFLOW_VENV)/bin/ruff check . || status=1; \
	$(AIRFLOW_VENV)/bin/mypy || status=1; \
	exit $$status

test-runtime: setup
	cd $(ROOT) && $(RUNTIME_VENV)/bin/python -m pytest $(RUNTIME_TESTS) $(PYTEST_ARGS)

# The real-browser test of the MLOps view (tests/dags/test_browser.py) drives Debian's chromium
# through its chromedriver, installed here when missing, as image-runtime installs its tools (needs root).
BROWSER_APT_PACKAGES := chromium chromium-driver
.PHONY: browser
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_APT_PACKAGES); }

# PostgreSQL (local_cloud/postgres.py) is Airflow's database in the real-scheduler tests and the kill
# drill, where the scheduler, triggerer, API server and CLI write at once: Debian's, installed here
# when missing (needs root).
POSTGRES_APT_PACKAGES := postgresql
.PHONY: postgres
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(POSTGRES_APT_PACKAGES); }

test-control: setup browser postgres
	cd $(ROOT) && $(AIRFLOW_VENV)/bin/python -m pytest $(CONTROL_TESTS) $(PYTEST_ARGS)

# make test runs the control suite in two parts: beside the runtime suite, all but tests/dags and the
# DAG runs that need no shared state (the examples, the local cloud, data arrival, the tutorial);
# then the rest of tests/dags (penguin_training end to end, the real scheduler, the browser), alone.
CONTROL_DAG_TESTS := tests/dags
CONTROL_DAG_SIDE_TESTS := tests/dags/test_examples.py tests/dags/test_local_cloud.py tests/dags/test_data_arrival.py tests/dags/test_tutorial.py
test-control-fast: setup postgres
	cd $(ROOT) && $(AIRFLOW_VENV)/bin/python -m pytest $(filter-out $(CONTROL_DAG_TESTS),$(CONTROL_TESTS)) $(CONTROL_DAG_SIDE_TESTS) $(PYTEST_ARGS)

test-control-dags: setup browser postgres
	cd $(ROOT) && $(AIRFLOW_VENV)/bin/python -m pytest $(CONTROL_DAG_TESTS) $(addprefix --ignore=,$(CONTROL_DAG_SIDE_TESTS)) $(PYTEST_ARGS)

test-control-min: setup $(AIRFLOW_MIN_VENV)/.installed
	cd $(ROOT) && $(AIRFLOW_MIN_VENV)/bin/python -m pytest $(CONTROL_MIN_TESTS) $(PYTEST_ARGS)

demo: setup
	$(AIRFLOW_VENV)/bin/python scripts/demo.py $(PIPELINE)

# The penguin pipeline on the local cloud (local_cloud/): pods, a Vertex AI job, gs:// artifacts.
demo-cloud: setup
	$(AIRFLOW_VENV)/bin/python scripts/demo_cloud.py

# The closed loop with a real scheduler and triggerer (5-7 minutes); see scripts/demo_loop.py.
demo-loop: setup
	$(AIRFLOW_VENV)/bin/python scripts/demo_loop.py

# The Airflow UI on the state the last `make demo-loop` left in .mlops/loop/ (its own Airflow home and project copy).
loop-ui: setup
	PATH=$(AIRFLOW_VENV)/bin:$$PATH AIRFLOW_HOME=$(ROOT)/.mlops/loop/airflow AIRFLOW__CORE__DAGS_FOLDER=$(ROOT)/.mlops/loop/project/dags \
		$(AIRFLOW_VENV)/bin/airflow standalone

# The kill drill (scripts/drill.py, about 8 minutes; not part of `make test`): SIGKILLs in the
# closed loop, then the invariants. It runs its own PostgreSQL (as the postgres user).
drill: setup postgres
	$(AIRFLOW_VENV)/bin/python scripts/drill.py

PIPELINE ?= penguin
schema: setup
	$(RUNTIME_VENV)/bin/python -m airflow_mlops.runtime.tools.schema include/$(PIPELINE)/pipeline.yaml

# The prediction server runs in the runtime environment; pid and log under .mlops/serving/<pipeline>/.
serve: setup
	$(RUNTIME_VENV)/bin/python -m airflow_mlops.runtime.serving start --pipeline include/$(PIPELINE)/pipeline.yaml

stop:
	@if [ -x $(RUNTIME_VENV)/bin/python ]; then $(RUNTIME_VENV)/bin/python -m airflow_mlops.runtime.serving stop --pipeline include/$(PIPELINE)/pipeline.yaml; fi

status: setup
	$(RUNTIME_VENV)/bin/python -m airflow_mlops.runtime.serving status --pipeline include/$(PIPELINE)/pipeline.yaml

REASON ?= manual rollback (make rollback)
rollback: setup
	$(RUNTIME_VENV)/bin/python -m airflow_mlops.runtime.serving rollback --pipeline include/$(PIPELINE)/pipeline.yaml --reason "$(REASON)"

benchmark: setup
	$(AIRFLOW_VENV)/bin/python benchmarks/launch_overhead.py

benchmark-pipeline: setup
	$(AIRFLOW_VENV)/bin/python benchmarks/pipeline_e2e.py

benchmark-serving: setup
	$(RUNTIME_VENV)/bin/python benchmarks/serving.py

benchmark-monitoring: setup
	$(RUNTIME_VENV)/bin/python benchmarks/monitoring.py

benchmark-dag-parse: setup
	$(AIRFLOW_VENV)/bin/python benchmarks/dag_parse.py

# ingest on 100k, 1M and 10M penguin-like rows against the pyarrow read (about 3 minutes, 1 GB of disk in /tmp).
benchmark-ingest: setup
	$(RUNTIME_VENV)/bin/python benchmarks/ingest.py

# ingest, validate, transform and train (streamed) on 100k, 1M and 10M rows: rows/s and peak memory (about 10 minutes).
benchmark-large-data: setup
	$(RUNTIME_VENV)/bin/python benchmarks/large_data.py

# cloudbuild/<environment>.yaml and cloudbuild/triggers/ from cicd/environments.yaml (a test checks they are current).
cloudbuild: $(AIRFLOW_VENV)/.installed
	cd $(ROOT) && $(AIRFLOW_VENV)/bin/python -m cicd render

# check_batch and predict_batch on 1M rows against the champion's inference alone (about 3 minutes).
benchmark-batch-prediction: setup
	$(RUNTIME_VENV)/bin/python benchmarks/batch_prediction.py

# The runtime image without a Docker daemon or registry (not part of `make test`; needs root):
# buildah on a Debian 12 root filesystem made by debootstrap, then the component CLI run inside it
# (docker/buildah-runtime.sh; docker/README.md has the measured time and size). Scratch data and
# buildah's storage go to IMAGE_WORK. Set IMAGE_STORAGE_DRIVER=vfs where overlay mounts fail.
IMAGE_APT_PACKAGES := buildah debootstrap
IMAGE_WORK ?= /tmp/airflow-mlops-image
IMAGE_STORAGE_DRIVER ?= overlay
DEBIAN_MIRROR ?= http://deb.debian.org/debian
RUNTIME_IMAGE_TAG ?= localhost/airflow-mlops-runtime:dev
image-runtime: | $(UV)
	@command -v buildah >/dev/null && command -v debootstrap >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(IMAGE_APT_PACKAGES); }
	UV=$(UV) UV_VERSION=$(UV_VERSION) IMAGE=$(RUNTIME_IMAGE_TAG) WORK=$(IMAGE_WORK) MIRROR=$(DEBIAN_MIRROR) \
	  DRIVER=$(IMAGE_STORAGE_DRIVER) CA_BUNDLE=$${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt} \
	  bash docker/buildah-runtime.sh

clean: stop
	rm -rf .mlops

clean-all: clean
	rm -rf $(AIRFLOW_VENV) $(AIRFLOW_MIN_VENV) $(RUNTIME_VENV) $(TOOLS)
