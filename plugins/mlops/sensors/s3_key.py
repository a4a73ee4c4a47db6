"""The provider's deferrable S3KeySensor, with the interval between checks chosen per run.

`poke_interval` is fixed when the DAG is parsed; a Param (or any template) cannot reach it. This
sensor takes `check_interval` as a templated field and applies it when it runs, so a DAG can offer
it in its trigger form - production checks every 10 minutes, a test or a demo every few seconds.
"""

from __future__ import annotations

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor


class S3KeyCheckIntervalSensor(S3KeySensor):
    template_fields = (*S3KeySensor.template_fields, "check_interval")

    def __init__(self, *, check_interval: int | str = 600, **kwargs) -> None:
        super().__init__(**kwargs)
        self.check_interval = check_interval

    def execute(self, context):
        self.poke_interval = float(self.check_interval)
        return super().execute(context)
