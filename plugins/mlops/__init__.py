"""Our Airflow extensions for the recommender platform: hooks own boto3 clients, operators hold
templated fields and call hooks, triggers poll asynchronously (the Amazon provider's style).

`settings` holds the names every DAG shares, `months` which month a run is about, and `tasks/` one
module per DAG with what its Python tasks do (policy lives in `include/`, Airflow-free)."""
