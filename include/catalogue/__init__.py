"""The catalogue's text as a signal: Bedrock embeddings of item descriptions (`embeddings`) and the
cold-start neighbours they give items nobody has bought before (`neighbours`). Airflow-free."""
