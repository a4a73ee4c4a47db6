"""The data-aware contract between DAGs. An Asset names a data set, not a bucket (buckets differ per
account); each event's `extra` carries the concrete S3 URIs and the month it covers."""

from airflow.sdk import Asset

RAW_MONTH = Asset(name="online_retail_raw_month", uri="mlops://online-retail/raw")

# Updated by infra_bootstrap after every run that deployed (or confirmed) stacks; extra lists them.
PLATFORM_STACKS = Asset(name="platform_stacks", uri="mlops://infra/stacks")

# Updated by monthly_preprocessing for each processed month; extra: month, manifest_uri, files
# (interactions, personalize_interactions, user/item features, quarantine, report) and row counts.
# The training and Personalize DAGs schedule on it.
PROCESSED_MONTH = Asset(name="online_retail_processed_month", uri="mlops://online-retail/processed")

# Updated by model_training when a model version gets the `challenger` alias (or, for the very
# first model, `champion`); extra: model name, version, alias, S3 artifact, metrics. The A/B
# promotion DAG schedules on it.
MODEL_CANDIDATE = Asset(name="recommender_model_candidate", uri="mlops://models/recommender/candidate")
