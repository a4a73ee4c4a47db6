"""Fail like CloudFormation when a resource cannot be created or updated: the resource's
`CREATE_FAILED` (`UPDATE_FAILED`) event with moto's reason, then `ROLLBACK_COMPLETE`
(`UPDATE_ROLLBACK_COMPLETE`), instead of moto's HTTP 500. A stack whose creation rolled back has
no outputs (moto evaluated them anyway, and an output of a resource never made was a 500)."""

from __future__ import annotations

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing


class ResourceFailed(Exception):
    def __init__(self, logical_id: str, resource_type: str, reason: str) -> None:
        super().__init__(f"{logical_id} [{resource_type}]: {reason}")
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason


def _create_resources(original):
    def create_resources(self):
        try:
            original(self)
        except ResourceFailed as failure:
            roll_back(self, "CREATE", failure)

    return create_resources


def roll_back(stack, change_set_type: str, failure: ResourceFailed) -> None:
    """Record the failure as CloudFormation does. Resources already made stay in moto: moto has no
    rollback, and a ROLLBACK_COMPLETE stack can only be deleted anyway."""
    verb = "CREATE" if change_set_type == "CREATE" else "UPDATE"
    stack.events.append(
        cfn_models.Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=failure.logical_id,
            physical_resource_id="",
            resource_type=failure.resource_type,
            resource_status=f"{verb}_FAILED",
            resource_status_reason=failure.reason,
            resource_properties=None,
        )
    )
    prefix = "" if verb == "CREATE" else "UPDATE_"
    stack._add_stack_event(
        f"{prefix}ROLLBACK_IN_PROGRESS",
        resource_status_reason=f"The following resource(s) failed to {verb.lower()}: [{failure.logical_id}]. ",
    )
    stack._add_stack_event(f"{prefix}ROLLBACK_COMPLETE")
    stack.status = f"{prefix}ROLLBACK_COMPLETE"


def _attributing(original):
    """Wrap moto's per-resource create/update so a failure names its resource."""

    def wrapped(logical_id, resource_json, resources_map, account_id, region_name, *args, **kwargs):
        try:
            return original(logical_id, resource_json, resources_map, account_id, region_name, *args, **kwargs)
        except ResourceFailed:
            raise
        except Exception as err:
            reason = getattr(err, "message", None) or getattr(err, "description", None) or str(err)
            raise ResourceFailed(logical_id, resource_json.get("Type", "?"), f"{type(err).__name__}: {reason}") from err

    return wrapped


def _outputs(original):
    def outputs(self):
        if self.status in ("ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"):
            return None
        return original.fget(self)

    return property(outputs)


def install() -> None:
    cfn_models.Stack.outputs = _outputs(cfn_models.Stack.outputs)
    cfn_models.Stack.create_resources = _create_resources(cfn_models.Stack.create_resources)
    parsing.parse_and_create_resource = _attributing(parsing.parse_and_create_resource)
    parsing.parse_and_update_resource = _attributing(parsing.parse_and_update_resource)
