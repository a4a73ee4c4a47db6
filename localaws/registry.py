"""What the local stack answers itself instead of passing to moto, and the state behind it.

Followed from the wire: the server looks up (service, operation) in `HANDLERS`, each service's
`responses` module's handlers; a handler takes an `ApiCall` and returns the operation's output as
a dict (or raises `AwsError`), and reaches its state through `stack.backend(service, ...)`, an
instance of the class in `BACKENDS` per (account, region). `install_patches` applies our
corrections to moto's own models, once per process.
"""

from __future__ import annotations

from localaws.apigateway.models import DataPlane
from localaws.applicationautoscaling import responses as autoscaling_responses
from localaws.awslambda import responses as lambda_responses
from localaws.awslambda.models import LambdaBackend
from localaws.bedrock import responses as bedrock_responses
from localaws.bedrock.models import BedrockRuntimeBackend
from localaws.cloudformation import patches as cloudformation_patches
from localaws.cloudwatch import patches as cloudwatch_patches
from localaws.cloudwatch import responses as cloudwatch_responses
from localaws.ecs import responses as ecs_responses
from localaws.ecs.models import EcsTaskBackend
from localaws.events import delivery as event_delivery
from localaws.featurestore import responses as featurestore_responses
from localaws.featurestore.models import FeatureStoreBackend
from localaws.iam import oidc_providers
from localaws.personalize import responses as personalize_responses
from localaws.personalize.models import PersonalizeBackend
from localaws.s3 import bucket_policies
from localaws.sagemaker import patches as sagemaker_patches
from localaws.sagemaker.endpoints import responses as endpoint_responses
from localaws.sagemaker.endpoints.models import EndpointBackend
from localaws.sagemaker.mlflow import responses as mlflow_responses
from localaws.sagemaker.processing import responses as processing_responses
from localaws.sagemaker.processing.models import ProcessingBackend
from localaws.sagemaker.studio import responses as studio_responses
from localaws.sagemaker.training import responses as training_responses
from localaws.sagemaker.training.models import TrainingBackend
from localaws.sns import subscriptions, topic_policies
from localaws.wire import Handler

HANDLERS: dict[tuple[str, str], Handler] = {
    **autoscaling_responses.operations,
    **cloudwatch_responses.operations,
    **ecs_responses.operations,
    **featurestore_responses.operations,
    **personalize_responses.operations,
    **training_responses.operations,
    **processing_responses.operations,
    **endpoint_responses.operations,
    **studio_responses.operations,
    **mlflow_responses.operations,
    **lambda_responses.operations,
    **bedrock_responses.operations,
}

# Per-service state, one instance per (account, region), created on first use by the stack.
BACKENDS: dict[str, type] = {
    "ecs": EcsTaskBackend,
    "sagemaker-featurestore-runtime": FeatureStoreBackend,
    "sagemaker-training": TrainingBackend,
    "sagemaker-processing": ProcessingBackend,
    "sagemaker-endpoints": EndpointBackend,
    "personalize": PersonalizeBackend,
    "lambda": LambdaBackend,
    "apigateway-data": DataPlane,
    "bedrock-runtime": BedrockRuntimeBackend,
}


def install_patches() -> None:
    """Correct moto's CloudFormation, CloudWatch, EventBridge, S3, SNS and SageMaker models (idempotent)."""
    cloudformation_patches.install()
    cloudwatch_patches.install()
    bucket_policies.install()
    oidc_providers.install()
    topic_policies.install()
    subscriptions.install()
    sagemaker_patches.install()
    event_delivery.install()
    event_delivery.install_patterns()
