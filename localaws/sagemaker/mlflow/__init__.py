"""SageMaker managed MLflow tracking servers: `models` (state and validation), `responses` (the
API), `resources` (`AWS::SageMaker::MlflowTrackingServer`)."""
