"""SSM parameters that DAGs publish for applications (the provider's SsmHook only reads them)."""

from __future__ import annotations

from airflow.providers.amazon.aws.hooks.ssm import SsmHook


class SsmParameterHook(SsmHook):
    def put_string(self, name: str, value: str, description: str = "") -> None:
        self.conn.put_parameter(Name=name, Value=value, Type="String", Overwrite=True, Description=description)
