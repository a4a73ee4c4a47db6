"""The local AWS emulator: moto in server mode, plus what moto lacks, answered by our own handlers.

DAGs run against it on a laptop and in tests exactly as against AWS (boto3 with an endpoint URL).
Each service package follows moto's layout: `models` holds our backend state, `responses` the
wire handlers, `patches` corrections to moto's own models where it differs from AWS. `server`
dispatches requests (to our handlers, armed `faults`, or moto), `registry` lists what is ours,
`wire` speaks the AWS protocols, `jobs` runs job images (`images.toml`) as local processes.
Dev tooling only: nothing under dags/, plugins/ or include/ imports it; the developer's harness
around it (demo, MLflow, provisioning, Airflow) is `devstack`.
"""
