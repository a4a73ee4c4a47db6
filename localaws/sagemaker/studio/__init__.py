"""SageMaker Studio domains and user profiles: `models` (state and CreateDomain/CreateUserProfile's
validation), `responses` (the API), `resources` (their CloudFormation types)."""
