"""Monthly preprocessing job (the `mlops-preprocessing` image): raw purchase lines in, clean data sets out.

Modules, in the order data flows: `config` (SSM Parameter Store), `reader` (streaming CSV with
header/encoding/date checks), `transform` (row rules and quarantine), `features` (streaming user and
item aggregates), `model` (the fitted, JSON-stored preprocessing model), `outputs` (atomic
publication to S3), `custom` (optional user code from the artifact bucket), `job` (the two entry
points: `run` one month, `fit` the model on a window).
"""
