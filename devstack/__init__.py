"""The development harness around the local AWS stack: never deployed, never imported by DAGs.

`localaws` is the emulator (what answers AWS's APIs); this package is what a developer runs around
it: the lifecycle demo, the traffic replayer, provisioning of what an account holds before the
platform, the local MLflow server, the Airflow environment, and the `python -m devstack` launcher.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
