"""Register model versions dropped by hand under models/<name>/<version>/ and announce them for A/B."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from mlops.alerting import failure_alert
from mlops.assets import MODEL_CANDIDATE
from mlops.settings import AWS_CONN_ID, MLFLOW_CONN_ID, SERVING_IMAGE

DOC = """
### Model drop
Every 30 minutes (or by hand), looks for `s3://<platform bucket>/models/<name>/<version>/model.tar.gz`
without a `_registration.json` beside it: a model version someone placed there by hand.

A drop is an unreviewed path to production, so (rules in `include/training/drops.py`):
- `<name>` must be a model the platform serves (`SERVED_MODEL_NAMES` in `mlops/settings.py`);
- a champion must be serving: a drop is always registered as `challenger` (package
  PendingManualApproval) and A/B-tested against it, never made champion by itself;
- the object is read once as a stream, bounded in compressed and decompressed bytes and member
  count (tar bomb), and only `model.json`/`model.npz` are kept and loaded (JSON, `np.load` without
  pickle: nothing in the drop executes);
- they are repacked with the project's own `inference.py`/`artifact.py` (the drop's `code/` is
  discarded) into `models/<name>/_sha256/<sha256>/model.tar.gz`, which the MLflow version (tags
  `source=hand-drop`, `drop_label`, `drop_uri`, `drop_sha256`) and the model package point at:
  overwriting the drop afterwards changes nothing.

The version is announced on the `recommender_model_candidate` Asset, and `ab_promotion` tests it.
A drop breaking a rule fails its own mapped task with the reason and is marked rejected, so it is
reported once and never retried silently; an error that is not the drop's (full disk, throttling)
leaves no mark, so the task retries and the next scan finds the drop again.
"""


@dag(
    dag_id="model_drop",
    schedule="*/30 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["serving", "mlflow"],
    doc_md=DOC,
    default_args={
        "on_failure_callback": failure_alert(),
        "owner": "mlops",
        "retries": 1,
        "retry_delay": timedelta(minutes=1),
    },
)
def model_drop():
    @task(execution_timeout=timedelta(minutes=5))
    def find_drops() -> list[dict]:
        from mlops.tasks import model_drop as steps

        return steps.find_drops(aws_conn_id=AWS_CONN_ID)

    @task(outlets=[MODEL_CANDIDATE], execution_timeout=timedelta(minutes=20))
    def register_drop(drop: dict, run_id=None, outlet_events=None) -> dict:
        from mlops import settings
        from mlops.deployment import current
        from mlops.tasks import model_drop as steps

        registered = steps.register(
            drop,
            aws_conn_id=AWS_CONN_ID,
            mlflow_conn_id=MLFLOW_CONN_ID,
            package_group=current().package_group,
            serving_image=SERVING_IMAGE,
            run_id=run_id,
            served=settings.SERVED_MODEL_NAMES,
        )
        outlet_events[MODEL_CANDIDATE].extra = registered
        return registered

    register_drop.expand(drop=find_drops())


model_drop()
