"""The ECS operations the local stack owns instead of moto: RunTask, DescribeTasks, ListTasks, StopTask."""

from __future__ import annotations

from typing import Any

from localaws.wire import ApiCall, Operations

operations = Operations()


def _backend(call: ApiCall):
    return call.stack.backend("ecs", call.account_id, call.region)


@operations.handles("ecs", "RunTask")
def run_task(call: ApiCall) -> dict[str, Any]:
    tasks, failures = _backend(call).run_task(call.params)
    return {"tasks": [t.describe() for t in tasks], "failures": failures}


@operations.handles("ecs", "DescribeTasks")
def describe_tasks(call: ApiCall) -> dict[str, Any]:
    params = call.params
    tasks, failures = _backend(call).describe(params.get("cluster", "default"), params["tasks"])
    return {"tasks": [t.describe() for t in tasks], "failures": failures}


@operations.handles("ecs", "ListTasks")
def list_tasks(call: ApiCall) -> dict[str, Any]:
    return {"taskArns": _backend(call).list(call.params)}


@operations.handles("ecs", "StopTask")
def stop_task(call: ApiCall) -> dict[str, Any]:
    params = call.params
    task = _backend(call).stop(params.get("cluster", "default"), params["task"], params.get("reason"))
    return {"task": task.describe()}
