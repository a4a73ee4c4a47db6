"""The SageMaker Feature Store runtime, which moto lacks: `models` validates and keeps records per
feature group (online and offline store), `responses` answers PutRecord, GetRecord,
BatchGetRecord and DeleteRecord. The groups themselves are moto's (see `sagemaker.patches`)."""
