"""SageMaker model packages: the registry AWS governance tools see, mirroring MLflow's versions.

Each MLflow version that is registered (trained or dropped) gets one package in one group; its
approval status follows the version's fate (champion Approved, challenger PendingManualApproval,
otherwise Rejected; the A/B test's outcome approves or rejects it later).
"""

from __future__ import annotations

from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook


class SageMakerModelPackageHook(SageMakerHook):
    def ensure_group(self, group: str, description: str = "Recommender versions, mirrored from MLflow") -> None:
        try:
            self.conn.describe_model_package_group(ModelPackageGroupName=group)
        except self.conn.exceptions.ClientError:
            self.conn.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription=description)

    def create_package(
        self,
        group: str,
        *,
        image: str,
        model_data_url: str,
        approval_status: str,
        description: str,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """A new package in `group` (created when missing); returns its ARN."""
        self.ensure_group(group)
        return self.conn.create_model_package(
            ModelPackageGroupName=group,
            ModelPackageDescription=description[:1000],
            InferenceSpecification={
                "Containers": [{"Image": image, "ModelDataUrl": model_data_url}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelApprovalStatus=approval_status,
            CustomerMetadataProperties=metadata or {},
        )["ModelPackageArn"]

    def set_approval(self, package_arn: str, status: str, reason: str = "") -> str:
        """Move the package to `status` unless it is there already; returns the status it had."""
        current = self.conn.describe_model_package(ModelPackageName=package_arn)["ModelApprovalStatus"]
        if current != status:
            self.conn.update_model_package(
                ModelPackageArn=package_arn, ModelApprovalStatus=status, ApprovalDescription=reason[:1000]
            )
            self.log.info("Model package %s: %s -> %s", package_arn, current, status)
        return current
