"""Corrections to moto's CloudWatch, installed once per process by `install()`:
- `alarm_evaluation`: metric alarms evaluated as CloudWatch does, on the stack's schedule
  (`localaws.cloudwatch.evaluator`) and before each read of their state;
- `alarm_actions`: on each change of state, the new state's actions run (SNS notifications);
- `alarm_resource`: `AWS::CloudWatch::Alarm`, which moto's CloudFormation does not model;
- `reserved_namespaces`: clients may not publish into `AWS/...` namespaces.
"""

from __future__ import annotations

from localaws.cloudwatch.patches import alarm_actions, alarm_evaluation, alarm_resource, reserved_namespaces


def install() -> None:
    alarm_evaluation.install()
    alarm_actions.install()
    alarm_resource.install()
    reserved_namespaces.install()
