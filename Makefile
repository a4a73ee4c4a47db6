# Every target does its own set-up: on a fresh machine `make test` and `make demo` build .venv
# from the pinned requirements first. Nothing here needs Docker.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced
# checkov pins conflict with the runtime's, so the scanner has a venv of its own.
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.synced
UV_VERSION := 0.13.8

# Where the embedded default keeps its state (Airflow's sqlite db, MLflow store, S3 blobs, logs).
LOCAL_DIR ?= $(CURDIR)/.local
LOCALAWS_PORT ?= 4566
MLFLOW_PORT ?= 5001
AIRFLOW_PORT ?= 8080

export PYTHONPATH := $(CURDIR):$(CURDIR)/plugins
export LOCAL_DIR LOCALAWS_PORT MLFLOW_PORT

.PHONY: help venv lock test lint scan unit demo stack up browser clean images push-images image-tags

help:
	@echo "make test   - lint (ruff, cfn-lint, hadolint, image tags), security scan (checkov) and the whole test suite"
	@echo "make demo   - start the local AWS stack and MLflow, run every DAG in lifecycle order"
	@echo "make stack  - run the local AWS stack and MLflow in the foreground"
	@echo "make up     - the stack, MLflow and Airflow (UI on :8080) on the demo's state, in the foreground"
	@echo "make lock   - recompile requirements*.txt from requirements*.in"
	@echo "make images - docker build the job images, tagged by their sources' digest (DRY_RUN=1: print)"
	@echo "make push-images - push the missing tags to the environment's ECR (ENDPOINT_URL=: the local stack)"
	@echo "make clean  - remove .venv and .local"

venv: $(STAMP)

# Rebuilt when missing or when a requirements file is newer than the last sync.
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.txt requirements-dev.txt
	@touch $@

$(SCAN_STAMP): requirements-scan.txt $(STAMP)
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(BIN)/uv pip sync --quiet --python $(SCAN_VENV)/bin/python requirements-scan.txt
	@touch $@

lock: venv
	$(BIN)/uv pip compile -q --python-version 3.11 --generate-hashes requirements.in -o requirements.txt
	$(BIN)/uv pip compile -q --python-version 3.11 --generate-hashes requirements-dev.in -o requirements-dev.txt
	$(BIN)/uv pip compile -q --python-version 3.11 --generate-hashes requirements-scan.in -o requirements-scan.txt

# Every Dockerfile of the project (the job images, MLflow, Airflow), whatever its directory.
DOCKERFILES = $(shell find . \( -name '.venv*' -o -name .git -o -name .local \) -prune -o \
	\( -name Dockerfile -o -name '*.Dockerfile' \) -type f -print | sort)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint infra/*.yaml
	$(BIN)/hadolint $(DOCKERFILES)
	$(BIN)/python -m include.image_build tags --check
	$(BIN)/actionlint .github/workflows/*.yaml

# Findings already justified in infra/README.md are in infra/.checkov.baseline; any new one fails.
scan: $(SCAN_STAMP)
	$(SCAN_VENV)/bin/checkov -d infra --framework cloudformation --skip-download --quiet --compact \
		--baseline infra/.checkov.baseline

unit: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint scan unit

# The job images (include/image_build.py). Tags: the digest of each image's sources, committed in
# include/image_tags.json (`make image-tags` after changing a job). On a machine with Docker and AWS
# credentials: ENVIRONMENT=dev|prod, AWS_REGION, ACCOUNT (default: the caller's); DRY_RUN=1 prints
# the commands; ENDPOINT_URL=https://127.0.0.1:4566 registers the images in the local stack instead.
IMAGE_ARGS = $(if $(DRY_RUN),--dry-run) $(if $(ONLY),--only $(ONLY))

image-tags: venv
	$(BIN)/python -m include.image_build tags

images: venv
	$(BIN)/python -m include.image_build build $(IMAGE_ARGS)

push-images: venv
	$(BIN)/python -m include.image_build push $(IMAGE_ARGS)

demo: venv
	$(BIN)/python -m devstack.demo

stack: venv
	$(BIN)/python -m devstack --port $(LOCALAWS_PORT) --mlflow-port $(MLFLOW_PORT)

# The embedded default with a UI: Airflow standalone on the demo's metadata DB and MLflow store,
# over a fresh local AWS stack (provisioned; run infra_bootstrap from the UI to deploy the stacks).
up: venv
	$(BIN)/python -m devstack --port $(LOCALAWS_PORT) --mlflow-port $(MLFLOW_PORT) --state-dir $(LOCAL_DIR)/demo \
		--provision --airflow --airflow-port $(AIRFLOW_PORT)

# Headless Chromium for the topology test's UI screenshot (Debian's package; CI runs this first).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null)

clean:
	rm -rf $(VENV) $(SCAN_VENV) $(LOCAL_DIR)
