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
