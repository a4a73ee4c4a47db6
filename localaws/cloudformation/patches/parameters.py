"""Stack parameters as CloudFormation reports them: a `List<>` as "a,b" (moto keeps str(list)) and an
SSM-typed parameter as its path, not what it resolved to - which is also what `UsePreviousValue`
reuses and what change sets compare. An SSM-typed parameter's default is resolved only when no value
is given (moto resolved every default first, so a stack passing its own path failed when the
default's parameter did not exist), and a path that does not exist fails as CloudFormation says."""

from __future__ import annotations

import ast
import contextlib
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError
from moto.ssm.models import ssm_backends


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


def _load_parameters(original):
    def load_parameters(self) -> None:
        slots = self._template.get("Parameters", {}) or {}
        hidden = {}
        for key in self.input_parameters or {}:
            spec = slots.get(key)
            if spec and "Default" in spec and str(spec.get("Type", "")).startswith("AWS::SSM::Parameter::"):
                hidden[key] = spec.pop("Default")
        try:
            original(self)
        finally:
            for key, default in hidden.items():
                slots[key]["Default"] = default

    return load_parameters


def _parse_ssm_parameter(original):
    def parse_ssm_parameter(self, value: str, value_type: str):
        if ssm_backends[self._account_id][self._region_name].get_parameter(value) is None:
            raise ValidationError(message=f"Parameters: [ssm:{value}] cannot be found.")
        return original(self, value, value_type)

    return parse_ssm_parameter


def install() -> None:
    cfn_models.Stack.stack_parameters = property(stack_parameters)
    parsing.ResourceMap.load_parameters = _load_parameters(parsing.ResourceMap.load_parameters)
    parsing.ResourceMap.parse_ssm_parameter = _parse_ssm_parameter(parsing.ResourceMap.parse_ssm_parameter)
