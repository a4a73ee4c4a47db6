"""Failure alerts: every task failure reaches the serving stack's SNS topic.

The provider's SnsNotifier needs the topic ARN when the DAG is parsed; ours resolves it when it
fires, from the stack outputs in SSM (`/<project>/<env>/stacks/serving/AlertTopicArn`), so DAG files name no
account. The message says which DAG, task, run and try failed, why, and where the log is. A
notifier that cannot publish logs why and never masks the task's own failure.
"""

from __future__ import annotations

from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

TOPIC_OUTPUT = ("serving", "AlertTopicArn")
MESSAGE = """\
Airflow task failed
DAG:      {{ ti.dag_id }}
Task:     {{ ti.task_id }}{% if ti.map_index is not none and ti.map_index >= 0 %} [{{ ti.map_index }}]{% endif %}
Run:      {{ run_id }}
Try:      {{ ti.try_number }}
Error:    {{ exception | string | truncate(2000) if exception else "see the log" }}
Log:      {{ ti.log_url }}
"""


class StackAlertNotifier(SnsNotifier):
    """SnsNotifier whose topic is the serving stack's alert topic, looked up when it fires."""

    def __init__(self, *, aws_conn_id: str | None = "aws_default", target_arn: str = "", **kwargs) -> None:
        kwargs.setdefault("message", MESSAGE)
        kwargs.setdefault("subject", "[mlops] {{ ti.dag_id }}.{{ ti.task_id }} failed")
        super().__init__(aws_conn_id=aws_conn_id, target_arn=target_arn, **kwargs)

    def notify(self, context) -> None:
        try:
            if not self.target_arn:
                from mlops.hooks.stack_outputs import StackOutputsHook

                stack, output = TOPIC_OUTPUT
                self.target_arn = StackOutputsHook(aws_conn_id=self.aws_conn_id).get_outputs(stack, (output,))[output]
            self.subject = (self.subject or "")[:100]  # SNS's limit
            super().notify(context)
        except Exception:  # an alert must never turn into a second failure
            self.log.exception("could not publish the failure alert to SNS")


def failure_alert() -> StackAlertNotifier:
    """The `on_failure_callback` of every DAG's default_args."""
    return StackAlertNotifier()
