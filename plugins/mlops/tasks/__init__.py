"""What each DAG's Python tasks do, one module per DAG (named after it); the DAG files only wire
them. Imported inside tasks, so parsing a DAG stays light."""
