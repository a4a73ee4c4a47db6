"""Whether an image a job is about to run is in ECR: the check before an ECS task or training job.

A missing image otherwise fails minutes later and far away (ECS: `CannotPullContainerError` in the
stopped task; SageMaker: a failed training job); here the task fails before starting it and names
the repository:tag to push (`make push-images`, include/image_build.py).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.ecr import EcrHook

from include.images import EcrImage, parse_ecr_image


class ImageNotInEcr(LookupError):
    """The image's repository or tag is missing from its registry."""


class EcrImagesHook(EcrHook):
    def require_image(self, image: str) -> dict[str, Any]:
        """The image's details from `DescribeImages` (digest, push time, tags), or `ImageNotInEcr`
        naming repository:tag, registry and region. The client is the image's region."""
        ref = parse_ecr_image(image)
        if ref is None:
            raise ValueError(
                f"{image!r} is not an ECR image URI (<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>)"
            )
        client = self.conn if ref.region == self.conn_region_name else self.get_client_type(region_name=ref.region)
        image_id = {k: v for k, v in (("imageTag", ref.tag), ("imageDigest", ref.digest)) if v}
        try:
            details = client.describe_images(
                registryId=ref.registry, repositoryName=ref.repository, imageIds=[image_id]
            )["imageDetails"]
        except client.exceptions.ImageNotFoundException as err:
            raise ImageNotInEcr(f"image {ref} is not in ECR {_where(ref)}: push it (make push-images)") from err
        except client.exceptions.RepositoryNotFoundException as err:
            raise ImageNotInEcr(
                f"image {ref}: repository {ref.repository} does not exist in ECR {_where(ref)}: deploy the stack "
                "that holds it (infra_bootstrap), then push the image (make push-images)"
            ) from err
        if not details:  # the API answers a missing image with the error above; never silently pass
            raise ImageNotInEcr(f"image {ref} is not in ECR {_where(ref)}: push it (make push-images)")
        return details[0]


def _where(ref: EcrImage) -> str:
    return f"(registry {ref.registry}, {ref.region})"
