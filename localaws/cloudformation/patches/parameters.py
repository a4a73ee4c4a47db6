"""Stack parameters as CloudFormation reports them: a `List<>` as "a,b" (moto keeps str(list)) and an
SSM-typed parameter as its path, not what it resolved to - which is also what `UsePreviousValue`
reuses and what change sets compare."""

from __future__ import annotations

import ast
import contextlib
from typing import Any

from moto.cloudformation import models as cfn_models


def flat(value: Any) -> str:
    """A parameter value as the comma-joined string callers send (moto stores List<> values as str(list))."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        with contextlib.suppress(ValueError, SyntaxError):  # moto stores List<> values as str(list)
            value = ast.literal_eval(value)
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def stack_parameters(stack) -> dict[str, str]:
    """Parameter values as CloudFormation reports them, and as `UsePreviousValue` reuses them: the
    value given (an SSM parameter's path, not what it resolved to), a `List<>` as "a,b"."""
    declared = (stack.template_dict or {}).get("Parameters", {}) or {}
    values = {k: flat(v) for k, v in stack.resource_map.resolved_parameters.items()}
    for key, spec in declared.items():
        if key in stack.parameters:
            values[key] = flat(stack.parameters[key])
        elif str(spec.get("Type", "")).startswith("AWS::SSM::Parameter::Value") and "Default" in spec:
            values[key] = flat(spec["Default"])
    return values


def install() -> None:
    cfn_models.Stack.stack_parameters = property(stack_parameters)
