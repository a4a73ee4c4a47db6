"""EventBridge: the events AWS services send to the default bus, and delivery to SNS targets."""
