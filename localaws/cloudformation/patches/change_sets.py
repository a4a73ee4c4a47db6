"""Change sets that behave like CloudFormation's, as an idempotent deploy operator needs them.

- "No changes" is decided on effective values (template defaults filled in, `UsePreviousValue`
  resolved, list parameters compared as the comma-joined strings callers send), and an update with
  nothing to do answers a FAILED change set, never a `ValidationError`;
- resources that use a changed parameter get a `Modify` change;
- executing a change set gives the stack its outputs and remembers the update's parameters; a
  failure anywhere in it rolls the stack back (see `rollback`) instead of answering a 500.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import responses as cfn_responses

from localaws.cloudformation.patches.parameters import flat
from localaws.cloudformation.patches.rollback import ResourceFailed, roll_back

NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."


def _effective(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, str]:
    declared = template.get("Parameters", {}) or {}
    values = {k: flat(v["Default"]) for k, v in declared.items() if "Default" in v}
    values.update({k: flat(v) for k, v in parameters.items() if k in declared})
    return values


def _uses(resource: dict[str, Any], names: set[str]) -> bool:
    text = json.dumps(resource, default=str)
    return any(f'"Ref": "{n}"' in text or re.search(r"\$\{" + re.escape(n) + r"[}.]", text) for n in names)


def _create_change_set(original):
    def create_change_set(self, stack_name, change_set_name, template, parameters, description, change_set_type, **kw):
        parameters = {k: flat(v) for k, v in parameters.items()}
        change_set_id, stack_id = original(
            self, stack_name, change_set_name, template, parameters, description, change_set_type, **kw
        )
        change_set = self.change_sets[change_set_id]
        if change_set_type != "UPDATE":
            return change_set_id, stack_id
        stack = change_set.stack
        old = _effective(stack.template_dict, stack.parameters)
        new = _effective(change_set.template_dict, parameters)
        if stack.has_template(template) and old == new:
            change_set.status, change_set.execution_status = "FAILED", "UNAVAILABLE"
            change_set.status_reason = NO_CHANGES
            change_set.changes = []
            return change_set_id, stack_id
        change_set.status, change_set.execution_status, change_set.status_reason = "CREATE_COMPLETE", "AVAILABLE", None
        changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        listed = {c.logical_resource_id for c in change_set.changes}
        for logical_id, resource in change_set.template_dict.get("Resources", {}).items():
            if logical_id not in listed and _uses(resource, changed):
                change_set.changes.append(
                    cfn_models.Change(action="Modify", logical_resource_id=logical_id, resource_type=resource["Type"])
                )
        return change_set_id, stack_id

    return create_change_set


def _execute_change_set(original):
    def execute_change_set(self, change_set_name, stack_name=None):
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        try:
            original(self, change_set_name, stack_name)
        except Exception as err:  # moto failing anywhere in the update is the stack failing, not a 500
            failure = (
                err
                if isinstance(err, ResourceFailed)
                else ResourceFailed(stack.name, "AWS::CloudFormation::Stack", f"{type(err).__name__}: {err}")
            )
            roll_back(stack, change_set.change_set_type, failure)
            change_set.execution_status = "EXECUTE_FAILED"
            return
        stack.parameters = dict(change_set.parameters)
        stack._parse_template()
        stack.output_map = stack._create_output_map()

    return execute_change_set


def _no_error_for_unchanged_change_set(validate, create_change_set):
    """CloudFormation answers an unchanged CreateChangeSet with a FAILED change set (decided in the
    backend's create_change_set), never with UpdateStack's "No updates are to be performed"."""

    def checked_validate(self, incoming_params, stack_body, old_stack):
        if getattr(self, "_localaws_change_set", False):
            return
        validate(self, incoming_params, stack_body, old_stack)

    def marked_create_change_set(self):
        self._localaws_change_set = True
        try:
            return create_change_set(self)
        finally:
            self._localaws_change_set = False

    return checked_validate, marked_create_change_set


def install() -> None:
    backend = cfn_models.CloudFormationBackend
    backend.create_change_set = _create_change_set(backend.create_change_set)
    backend.execute_change_set = _execute_change_set(backend.execute_change_set)
    response = cfn_responses.CloudFormationResponse
    response._validate_different_update, response.create_change_set = _no_error_for_unchanged_change_set(
        response._validate_different_update, response.create_change_set
    )
