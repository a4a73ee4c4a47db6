"""SNS: moto keeps topics and delivers to subscriptions; `topic_policies` and `subscriptions`
refuse what SNS refuses and give moto's CloudFormation `AWS::SNS::TopicPolicy` and
`AWS::SNS::Subscription`, which it does not model."""
