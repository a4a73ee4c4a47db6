"""Our Airflow extensions for the recommender platform: hooks own boto3 clients, operators hold
templated fields and call hooks, triggers poll asynchronously (the Amazon provider's style)."""
