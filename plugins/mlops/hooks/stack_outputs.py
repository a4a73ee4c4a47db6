"""Stack outputs in SSM Parameter Store: where infrastructure publishes and DAGs read.

Every stack's outputs live under one prefix per deployment, `/<project>/<env>/stacks/<stack-key>/<OutputKey>`
(`mlops.deployment`), so a DAG needs no stack names, ARNs or bucket names in its code: it reads them
at run time (never at parse time) from whatever account its `aws_conn_id` points at, for the
environment its Airflow serves.
"""

from __future__ import annotations

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook


class StackOutputsHook(AwsBaseHook):
    def __init__(self, *args, prefix: str | None = None, **kwargs) -> None:
        """`prefix`: by default this Airflow's deployment's (`mlops.deployment.current()`)."""
        kwargs["client_type"] = "ssm"
        super().__init__(*args, **kwargs)
        if prefix is None:
            from mlops.deployment import current

            prefix = current().stack_outputs_prefix
        self.prefix = prefix.rstrip("/")

    def get_outputs(self, stack_key: str, required: tuple[str, ...] = ()) -> dict[str, str]:
        """All outputs of one stack; a clear error when it published none or lacks a required one."""
        path = f"{self.prefix}/{stack_key}/"
        outputs: dict[str, str] = {}
        for page in self.conn.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=False):
            for parameter in page["Parameters"]:
                outputs[parameter["Name"][len(path) :]] = parameter["Value"]
        if not outputs:
            raise LookupError(
                f"no outputs of stack {stack_key!r} under {path} in SSM Parameter Store: "
                "deploy it first (DAG infra_bootstrap) or check the aws_conn_id's account and region"
            )
        missing = sorted(set(required) - set(outputs))
        if missing:
            raise LookupError(
                f"stack {stack_key!r} published no {missing} under {path} (it has {sorted(outputs)}): "
                "redeploy it with the DAG infra_bootstrap"
            )
        return outputs

    def put_outputs(self, stack_key: str, outputs: dict[str, str]) -> dict[str, list[str]]:
        """Make the stack's parameters equal `outputs`: write what changed, delete what the stack
        no longer outputs, leave the rest untouched (a rerun writes nothing)."""
        empty = sorted(k for k, v in outputs.items() if not v)
        if empty:
            raise ValueError(f"stack {stack_key!r} outputs {empty} are empty: SSM cannot store empty values")
        try:
            current = self.get_outputs(stack_key)
        except LookupError:
            current = {}
        written, unchanged = [], []
        for key, value in sorted(outputs.items()):
            name = f"{self.prefix}/{stack_key}/{key}"
            if current.get(key) == value:
                unchanged.append(name)
                continue
            self.conn.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
            written.append(name)
        stale = [f"{self.prefix}/{stack_key}/{key}" for key in sorted(set(current) - set(outputs))]
        for start in range(0, len(stale), 10):  # DeleteParameters takes at most 10 names
            self.conn.delete_parameters(Names=stale[start : start + 10])
        return {"written": written, "unchanged": unchanged, "deleted": stale}
