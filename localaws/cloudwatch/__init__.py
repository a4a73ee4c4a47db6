"""CloudWatch: moto's metrics and alarms, with what the A/B guardrails need from AWS added in
`patches` - alarms that change state by evaluating their metrics (on the schedule of the stack's
`evaluator` thread), alarm actions delivered to SNS, and `AWS::CloudWatch::Alarm` for the serving
stack's template - and DescribeAlarmHistory (`responses`)."""
