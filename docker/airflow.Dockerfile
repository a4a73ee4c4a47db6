# syntax=docker/dockerfile:1
# Target `airflow`: the image of every Airflow component (API server, scheduler, DAG processor,
# triggerer, Celery worker) with the project's pinned runtime packages: what a fork deploys.
# Target `localdev`: adds the local AWS stack's packages (moto server) for the compose file's
# `localaws` and `mlflow` services; never deployed.
FROM apache/airflow:3.3.2-python3.11 AS airflow

# The official image's users by name (root, airflow = uid 50000): its entry point expects them.
# hadolint ignore=DL3066
USER root
# Debian's current build-essential (security fixes included): the base image tag pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
# hadolint ignore=DL3066
USER airflow

COPY --chown=airflow:root requirements.txt /opt/mlops/requirements.txt
RUN pip install --no-cache-dir --require-hashes -r /opt/mlops/requirements.txt
ENV PYTHONPATH=/opt/airflow:/opt/airflow/plugins

FROM airflow AS localdev
COPY --chown=airflow:root requirements-dev.txt /opt/mlops/requirements-dev.txt
RUN pip install --no-cache-dir --require-hashes -r /opt/mlops/requirements.txt -r /opt/mlops/requirements-dev.txt
