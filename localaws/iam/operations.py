"""The operations localaws authorizes, per service: every one the DAGs, plugins, job code and the
Amazon provider's hooks they use call (found by grepping their boto3 calls), and their neighbours.

Each line says which reference action an operation is and where the resource ARN's variables come
from when they are not named like a request parameter (`actions.operation`). Parameters are
botocore's member names as moto's parser returns them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlparse

from localaws.iam.actions import OPERATIONS, Check, after, operation, pass_role, passes, resource_arns, tail
from localaws.wire import ApiCall


def _strip_slash(param: str):
    def get(p: dict[str, Any], call: ApiCall) -> Any:
        value = p.get(param)
        if isinstance(value, list):
            return [str(v).lstrip("/") for v in value]
        return None if value is None else str(value).lstrip("/")

    return get


def _or_all(param: str, prefix_param: str | None = None):
    """A list of names, or `*` (every one) when the request names none."""

    def get(p: dict[str, Any], call: ApiCall) -> Any:
        value = p.get(param)
        if value:
            return [str(v).rsplit("/", 1)[-1] for v in value] if isinstance(value, list) else str(value)
        prefix = p.get(prefix_param) if prefix_param else None
        return f"{prefix or ''}*"

    return get


# --- S3 ----------------------------------------------------------------------------------------------
def _s3_prefix(p: dict[str, Any], call: ApiCall) -> dict[str, list[str]]:
    return {"s3:prefix": [p["Prefix"]]} if p.get("Prefix") is not None else {}


def _copy_source(call: ApiCall) -> list[Check]:
    source = call.params.get("CopySource")
    if isinstance(source, dict):
        bucket, key = source.get("Bucket"), source.get("Key")
    else:
        bucket, _, key = unquote(str(source or "").split("?versionId=")[0]).lstrip("/").partition("/")
    return [Check("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}")] if bucket and key else []


def _deleted_keys(p: dict[str, Any], call: ApiCall) -> list[str]:
    return [o["Key"] for o in (p.get("Delete") or {}).get("Objects", []) if o.get("Key") is not None]


def _kms_key_arn(key: str | None, call: ApiCall) -> str | None:
    """The ARN of a customer managed key named any way; None for none or an AWS managed key
    (`aws/s3`), whose key policy lets every principal of the account use it through S3."""
    from moto.kms.models import kms_backends

    if not key or str(key).startswith("alias/aws/") or ":alias/aws/" in str(key):
        return None
    backend = kms_backends[call.account_id][call.region]
    try:
        key_id = backend.any_id_to_key_id(str(key))
    except Exception:  # an alias that names no key: S3 refuses the request itself
        return None
    if key_id is None or key_id not in backend.keys:
        return None
    return f"arn:aws:kms:{call.region}:{call.account_id}:key/{key_id}"


def _kms_via_s3(call: ApiCall) -> dict[str, list[str]]:
    return {"kms:ViaService": [f"s3.{call.region}.amazonaws.com"], "kms:CallerAccount": [call.account_id]}


def _sse_kms_write(call: ApiCall) -> list[Check]:
    """kms:GenerateDataKey on the key an SSE-KMS write uses: the request's, else the bucket's default."""
    from moto.s3.models import s3_backends

    p = call.params
    key = p.get("SSEKMSKeyId")
    if key is None and p.get("ServerSideEncryption") in (None, "aws:kms"):
        bucket = s3_backends[call.account_id]["aws"].buckets.get(p.get("Bucket"))
        rule = ((bucket.encryption or {}).get("Rule") or {}) if bucket is not None else {}
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        if default.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse"):
            key = default.get("KMSMasterKeyID")
    arn = _kms_key_arn(key, call)
    return [Check("kms:GenerateDataKey", arn, _kms_via_s3(call))] if arn else []


def _sse_kms_read(call: ApiCall) -> list[Check]:
    """kms:Decrypt on the key an SSE-KMS object was written with."""
    from moto.s3.models import s3_backends

    bucket = s3_backends[call.account_id]["aws"].buckets.get(call.params.get("Bucket"))
    found = bucket.keys.get(call.params.get("Key")) if bucket is not None else None
    if found is None or getattr(found, "encryption", None) != "aws:kms":
        return []
    arn = _kms_key_arn(getattr(found, "kms_key_id", None), call)
    return [Check("kms:Decrypt", arn, _kms_via_s3(call))] if arn else []


def _both(*parts):
    return lambda call: [check for part in parts for check in part(call)]


S3_BUCKET = {"BucketName": "Bucket"}
S3_OBJECT = {"BucketName": "Bucket", "ObjectName": "Key"}
operation("s3", "ListObjectsV2", "ListObjects", "HeadBucket", action="s3:ListBucket", context=_s3_prefix, **S3_BUCKET)
operation("s3", "ListObjectVersions", action="s3:ListBucketVersions", context=_s3_prefix, **S3_BUCKET)
operation("s3", "ListMultipartUploads", action="s3:ListBucketMultipartUploads", **S3_BUCKET)
operation("s3", "ListBuckets", action="s3:ListAllMyBuckets")
operation("s3", "GetObject", action="s3:GetObject", also=_sse_kms_read, **S3_OBJECT)
operation("s3", "HeadObject", action="s3:GetObject", **S3_OBJECT)
operation("s3", "GetObjectTagging", "PutObjectTagging", "DeleteObject", "AbortMultipartUpload", **S3_OBJECT)
operation("s3", "ListParts", action="s3:ListMultipartUploadParts", **S3_OBJECT)
operation("s3", "PutObject", "CreateMultipartUpload", action="s3:PutObject", also=_sse_kms_write, **S3_OBJECT)
operation("s3", "UploadPart", "CompleteMultipartUpload", action="s3:PutObject", **S3_OBJECT)
operation("s3", "UploadPartCopy", action="s3:PutObject", also=_copy_source, **S3_OBJECT)
operation("s3", "CopyObject", action="s3:PutObject", also=_both(_copy_source, _sse_kms_write), **S3_OBJECT)
operation("s3", "DeleteObjects", action="s3:DeleteObject", BucketName="Bucket", ObjectName=_deleted_keys)
operation(
    "s3",
    "CreateBucket",
    "DeleteBucket",
    "GetBucketLocation",
    "GetBucketPolicy",
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "GetBucketVersioning",
    "PutBucketVersioning",
    "GetBucketTagging",
    "PutBucketTagging",
    "GetBucketAcl",
    "PutBucketOwnershipControls",
    "GetBucketOwnershipControls",
    **S3_BUCKET,
)
for _op, _action in {
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "DeleteBucketTagging": "PutBucketTagging",
}.items():
    operation("s3", _op, action=f"s3:{_action}", **S3_BUCKET)

# --- SSM Parameter Store --------------------------------------------------------------------------
_PARAM = {"ParameterNameWithoutLeadingSlash": _strip_slash("Name")}
operation("ssm", "GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory", **_PARAM)
operation("ssm", "LabelParameterVersion", **_PARAM)
operation("ssm", "GetParameters", "DeleteParameters", ParameterNameWithoutLeadingSlash=_strip_slash("Names"))
operation("ssm", "GetParametersByPath", ParameterNameWithoutLeadingSlash=_strip_slash("Path"))
operation("ssm", "DescribeParameters")

# --- CloudWatch, CloudWatch Logs -----------------------------------------------------------------
operation(
    "cloudwatch",
    "PutMetricData",
    context=lambda p, c: {"cloudwatch:namespace": [p["Namespace"]]} if p.get("Namespace") else {},
)
operation("cloudwatch", "GetMetricData", "GetMetricStatistics", "ListMetrics")
operation("cloudwatch", "DescribeAlarms", AlarmName=_or_all("AlarmNames", "AlarmNamePrefix"))
operation("cloudwatch", "DescribeAlarmHistory", AlarmName=_or_all("AlarmName"))
operation("cloudwatch", "PutMetricAlarm", "SetAlarmState")
operation("cloudwatch", "DeleteAlarms", "EnableAlarmActions", "DisableAlarmActions", AlarmName="AlarmNames")
_LOGS = {"LogGroupName": "logGroupName", "LogStreamName": "logStreamName"}
operation("logs", "CreateLogGroup", "DeleteLogGroup", "CreateLogStream", "PutRetentionPolicy", **_LOGS)
operation("logs", "DescribeLogStreams", "FilterLogEvents", "GetLogEvents", "PutLogEvents", **_LOGS)
operation("logs", "DescribeLogGroups", LogGroupName=lambda p, c: f"{p.get('logGroupNamePrefix') or ''}*")

# --- SNS, SQS ---------------------------------------------------------------------------------------
_TOPIC = {"TopicName": tail("TopicArn", ":")}
operation(
    "sns", "Publish", TopicName=lambda p, c: str(p.get("TopicArn") or p.get("TargetArn") or "").rsplit(":", 1)[-1]
)
operation("sns", "Subscribe", "GetTopicAttributes", "SetTopicAttributes", "DeleteTopic", **_TOPIC)
operation("sns", "ListSubscriptionsByTopic", "AddPermission", "RemovePermission", **_TOPIC)
operation("sns", "TagResource", "UntagResource", "ListTagsForResource", TopicName=tail("ResourceArn", ":"))
operation("sns", "CreateTopic", TopicName="Name")
operation("sns", "Unsubscribe", TopicName=lambda p, c: str(p.get("SubscriptionArn", "")).split(":")[5])
operation("sns", "ListTopics", "ListSubscriptions")


def _queue(p: dict[str, Any], call: ApiCall) -> str | None:
    url = p.get("QueueUrl")
    return urlparse(url).path.rstrip("/").rsplit("/", 1)[-1] if url else p.get("QueueName")


for _op in ("SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes"):
    operation("sqs", _op, QueueName=_queue)
operation("sqs", "SetQueueAttributes", "PurgeQueue", "DeleteQueue", "CreateQueue", "GetQueueUrl", QueueName=_queue)
operation("sqs", "SendMessageBatch", action="sqs:SendMessage", QueueName=_queue)
operation("sqs", "DeleteMessageBatch", action="sqs:DeleteMessage", QueueName=_queue)
operation("sqs", "ChangeMessageVisibilityBatch", action="sqs:ChangeMessageVisibility", QueueName=_queue)
operation("sqs", "ListQueues")

# --- STS, IAM, KMS ----------------------------------------------------------------------------------
_ROLE_IN_ARN = {"RoleNameWithPath": after("RoleArn", ":role/")}
operation("sts", "AssumeRole", **_ROLE_IN_ARN)
operation("sts", "GetCallerIdentity")
_ROLE = {"RoleNameWithPath": "RoleName"}
operation("iam", "GetRole", "GetRolePolicy", "ListRolePolicies", "ListAttachedRolePolicies", **_ROLE)
operation("iam", "CreateRole", "DeleteRole", "PutRolePolicy", "DeleteRolePolicy", "TagRole", **_ROLE)
operation("iam", "AttachRolePolicy", "DetachRolePolicy", "UpdateAssumeRolePolicy", **_ROLE)
operation("iam", "ListRoles")


def _key_id(p: dict[str, Any], call: ApiCall) -> str | None:
    """The key's id, whatever names it (id, key ARN, alias name or alias ARN), as KMS resolves it."""
    from moto.kms.models import kms_backends

    key = p.get("KeyId") or p.get("TargetKeyId")
    if not key and p.get("CiphertextBlob") is not None:
        blob = p["CiphertextBlob"]
        return (blob if isinstance(blob, bytes) else bytes(blob))[:36].decode("ascii", "replace")
    if not key:
        return None
    backend = kms_backends[call.account_id][call.region]
    try:
        return backend.get_key_id(backend.any_id_to_key_id(key))
    except Exception:  # an unknown key: KMS answers NotFound after authorization
        return str(key).rsplit("/", 1)[-1]


for _op in ("Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey"):
    operation("kms", _op, KeyId=_key_id)
operation("kms", "GetKeyPolicy", "PutKeyPolicy", "ScheduleKeyDeletion", "EnableKeyRotation", KeyId=_key_id)
operation("kms", "CreateAlias", KeyId=_key_id, Alias=tail("AliasName"))
operation("kms", "ListKeys", "ListAliases", "CreateKey")

# --- ECR, ECS ---------------------------------------------------------------------------------------
operation("ecr", "GetAuthorizationToken")
_REPO = {"RepositoryName": "repositoryName"}
for _op in ("BatchGetImage", "GetDownloadUrlForLayer", "BatchCheckLayerAvailability", "DescribeImages", "ListImages"):
    operation("ecr", _op, **_REPO)
operation(
    "ecr", "PutImage", "InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload", "CreateRepository", **_REPO
)
operation("ecr", "DescribeRepositories", RepositoryName=_or_all("repositoryNames"))


def _cluster(p: dict[str, Any], call: ApiCall) -> str:
    return str(p.get("cluster") or "default").rsplit("/", 1)[-1]


def _task_definition(call: ApiCall) -> tuple[str, str, Any]:
    from moto.ecs.models import ecs_backends

    name = str(call.params.get("taskDefinition", "")).rsplit("/", 1)[-1]
    family, _, revision = name.partition(":")
    try:
        definition = ecs_backends[call.account_id][call.region].describe_task_definition(name)
        revision = revision or str(definition.revision)
    except Exception:  # unknown: ECS answers ClientException after authorization
        definition = None
    return family, revision or "*", definition


def _run_task_roles(call: ApiCall) -> list[Check]:
    _, _, definition = _task_definition(call)
    overrides = call.params.get("overrides") or {}
    roles = [overrides.get("taskRoleArn"), overrides.get("executionRoleArn")]
    if definition is not None:
        roles += [getattr(definition, "task_role_arn", None), getattr(definition, "execution_role_arn", None)]
    return pass_role(roles, "ecs-tasks.amazonaws.com")


operation(
    "ecs",
    "RunTask",
    also=_run_task_roles,
    TaskDefinitionFamilyName=lambda p, c: _task_definition(c)[0],
    TaskDefinitionRevisionNumber=lambda p, c: _task_definition(c)[1],
)
operation("ecs", "DescribeTasks", ClusterName=_cluster, TaskId=tail("tasks"))
operation("ecs", "StopTask", ClusterName=_cluster, TaskId=tail("task"))
operation("ecs", "ListTasks", ClusterName=_cluster, ContainerInstanceId=lambda p, c: "*")
operation("ecs", "DescribeClusters", ClusterName=_or_all("clusters"))
operation("ecs", "DescribeTaskDefinition", "ListClusters", "ListTaskDefinitions")
operation(
    "ecs",
    "RegisterTaskDefinition",
    TaskDefinitionFamilyName="family",
    TaskDefinitionRevisionNumber=lambda p, c: "*",
    also=lambda c: pass_role(
        [c.params.get("taskRoleArn"), c.params.get("executionRoleArn")], "ecs-tasks.amazonaws.com"
    ),
)

# --- SageMaker --------------------------------------------------------------------------------------
_SM = "sagemaker.amazonaws.com"
operation("sagemaker", "CreateTrainingJob", also=passes("RoleArn", _SM))
operation("sagemaker", "DescribeTrainingJob", "StopTrainingJob")
operation("sagemaker", "CreateProcessingJob", also=passes("RoleArn", _SM))
operation("sagemaker", "DescribeProcessingJob", "StopProcessingJob")
operation("sagemaker", "CreateModel", also=passes("ExecutionRoleArn", _SM))
operation("sagemaker", "DescribeModel", "DeleteModel")
operation("sagemaker", "CreateEndpointConfig", "DescribeEndpointConfig", "DeleteEndpointConfig")
operation("sagemaker", "CreateEndpoint", "DescribeEndpoint", "DeleteEndpoint", "UpdateEndpoint")
operation("sagemaker", "UpdateEndpointWeightsAndCapacities")
operation(
    "sagemaker",
    "CreateModelPackageGroup",
    "DescribeModelPackageGroup",
    ModelPackageGroupName=tail("ModelPackageGroupName"),
)
operation(
    "sagemaker",
    "CreateModelPackage",
    ModelPackageGroupName=tail("ModelPackageGroupName"),
    ModelPackageName=lambda p, c: None if p.get("ModelPackageGroupName") else p.get("ModelPackageName"),
)
operation(
    "sagemaker",
    "DescribeModelPackage",
    "UpdateModelPackage",
    "DeleteModelPackage",
    ModelPackageName=lambda p, c: str(p.get("ModelPackageName") or p.get("ModelPackageArn") or "").split(
        ":model-package/", 1
    )[-1],
)
operation("sagemaker", "DescribeFeatureGroup", FeatureGroupName=tail("FeatureGroupName"))
operation("sagemaker", "CreateExperiment", "DescribeExperiment")
for _op in (
    "Search",
    "ListTrainingJobs",
    "ListProcessingJobs",
    "ListModels",
    "ListEndpoints",
    "ListEndpointConfigs",
    "ListModelPackages",
    "ListModelPackageGroups",
    "ListFeatureGroups",
):
    operation("sagemaker", _op)


def _tagged(call: ApiCall) -> list[Check]:
    return [Check(f"sagemaker:{call.operation}", str(call.params.get("ResourceArn")))]


OPERATIONS[("sagemaker", "AddTags")] = _tagged
OPERATIONS[("sagemaker", "ListTags")] = _tagged
operation("sagemaker-runtime", "InvokeEndpoint")
_FG = {"FeatureGroupName": tail("FeatureGroupName")}
operation("sagemaker-featurestore-runtime", "PutRecord", "GetRecord", "DeleteRecord", **_FG)
operation(
    "sagemaker-featurestore-runtime",
    "BatchGetRecord",
    FeatureGroupName=lambda p, c: [str(i["FeatureGroupName"]).rsplit("/", 1)[-1] for i in p.get("Identifiers", [])],
)

# --- Personalize ------------------------------------------------------------------------------------
_PZ = "personalize.amazonaws.com"


def _arn_id(param: str):
    """The resource id of a Personalize ARN (what follows the resource type)."""
    return lambda p, c: str(p[param]).split("/", 1)[-1] if p.get(param) else None


operation("personalize", "CreateDatasetGroup", "CreateSchema", "CreateSolution", "CreateCampaign", ResourceId="name")
operation("personalize", "CreateEventTracker", ResourceId="name")
operation(
    "personalize",
    "CreateDataset",
    ResourceId=lambda p, c: f"{_arn_id('datasetGroupArn')(p, c)}/{str(p.get('datasetType', '')).upper()}",
)
operation("personalize", "CreateDatasetImportJob", also=passes("roleArn", _PZ), ResourceId="jobName")
operation("personalize", "CreateBatchInferenceJob", also=passes("roleArn", _PZ), ResourceId="jobName")
for _op, _param in {
    "DescribeDatasetGroup": "datasetGroupArn",
    "DescribeSchema": "schemaArn",
    "DescribeDataset": "datasetArn",
    "UpdateDataset": "datasetArn",
    "DescribeDatasetImportJob": "datasetImportJobArn",
    "DescribeSolution": "solutionArn",
    "CreateSolutionVersion": "solutionArn",
    "DescribeSolutionVersion": "solutionVersionArn",
    "GetSolutionMetrics": "solutionVersionArn",
    "DescribeCampaign": "campaignArn",
    "UpdateCampaign": "campaignArn",
    "DeleteCampaign": "campaignArn",
    "DeleteSolution": "solutionArn",
    "DeleteDataset": "datasetArn",
    "DeleteDatasetGroup": "datasetGroupArn",
    "DeleteSchema": "schemaArn",
    "DeleteEventTracker": "eventTrackerArn",
    "DescribeEventTracker": "eventTrackerArn",
    "DescribeBatchInferenceJob": "batchInferenceJobArn",
}.items():
    operation("personalize", _op, ResourceId=_arn_id(_param))
for _op in (
    "ListDatasetGroups",
    "ListSchemas",
    "ListDatasets",
    "ListDatasetImportJobs",
    "ListSolutions",
    "ListSolutionVersions",
    "ListCampaigns",
    "ListEventTrackers",
    "ListRecipes",
):
    operation("personalize", _op)
operation("personalize-runtime", "GetRecommendations", ResourceId=_arn_id("campaignArn"))
operation("personalize-events", "PutEvents")

# --- Bedrock ----------------------------------------------------------------------------------------


def _bedrock_model(call: ApiCall) -> list[Check]:
    """bedrock:InvokeModel on the model the request names. The reference lists every kind of model
    InvokeModel takes (foundation model, inference profile, provisioned model...) as required, but a
    request names one: an ARN is checked as given, a bare model id as the region's foundation model
    (which has no account in its ARN)."""
    model = str(call.params.get("modelId") or "")
    if model.startswith("arn:"):
        return [Check("bedrock:InvokeModel", model)]
    return [Check("bedrock:InvokeModel", f"arn:aws:bedrock:{call.region}::foundation-model/{model}")]


OPERATIONS[("bedrock-runtime", "InvokeModel")] = _bedrock_model

# --- CloudFormation -----------------------------------------------------------------------------------


def _stack(call: ApiCall) -> tuple[str | None, str]:
    """(stack name, stack id) of the request: from its StackName (name or ARN) or its change set."""
    from moto.cloudformation.models import cloudformation_backends

    p = call.params
    backend = cloudformation_backends[call.account_id][call.region]
    name = p.get("StackName")
    if not name and str(p.get("ChangeSetName", "")).startswith("arn:"):
        change_set = backend.change_sets.get(p["ChangeSetName"])
        name = change_set.stack_name if change_set is not None else None
    if not name:
        return None, "*"
    if str(name).startswith("arn:"):
        _, stack_name, stack_id = str(name).split(":", 5)[5].split("/", 2)
        return stack_name, stack_id
    try:
        return name, backend.get_stack(name).stack_id.rsplit("/", 1)[-1]
    except Exception:  # a stack not created yet: its id is not known
        return name, "*"


_STACK = {"StackName": lambda p, c: _stack(c)[0] or "*", "Id": lambda p, c: _stack(c)[1]}
_CFN = "cloudformation.amazonaws.com"
operation("cloudformation", "CreateStack", "UpdateStack", also=passes("RoleARN", _CFN), **_STACK)
operation("cloudformation", "CreateChangeSet", also=passes("RoleARN", _CFN), **_STACK)
for _op in (
    "DeleteStack",
    "DescribeStacks",
    "DescribeStackEvents",
    "DescribeStackResource",
    "DescribeStackResources",
    "ListStackResources",
    "GetTemplate",
    "DescribeChangeSet",
    "ExecuteChangeSet",
    "DeleteChangeSet",
    "ListChangeSets",
    "GetTemplateSummary",
):
    operation("cloudformation", _op, **_STACK)
operation("cloudformation", "ValidateTemplate", "ListStacks", "ListExports")

# --- Lambda, DynamoDB, EC2 -----------------------------------------------------------------------------


def _function(p: dict[str, Any], call: ApiCall) -> str | None:
    name = p.get("FunctionName")
    if not name:
        return None
    name = str(name)
    return name.split(":")[6] if name.startswith("arn:") else name.split(":")[0]


operation("lambda", "Invoke", action="lambda:InvokeFunction", FunctionName=_function)
operation("lambda", "GetFunction", "GetFunctionConfiguration", "DeleteFunction", "GetPolicy", FunctionName=_function)
operation("lambda", "UpdateFunctionCode", "AddPermission", "RemovePermission", FunctionName=_function)
operation("lambda", "UpdateFunctionConfiguration", also=passes("Role", "lambda.amazonaws.com"), FunctionName=_function)
operation("lambda", "CreateFunction", also=passes("Role", "lambda.amazonaws.com"), FunctionName=_function)
operation("lambda", "ListFunctions")
for _op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable", "CreateTable"):
    operation("dynamodb", _op)
operation("dynamodb", "BatchGetItem", "BatchWriteItem", TableName=lambda p, c: list(p.get("RequestItems") or {}))
operation("dynamodb", "ListTables")
for _op in (
    "DescribeVpcs",
    "DescribeSubnets",
    "DescribeSecurityGroups",
    "DescribeRouteTables",
    "DescribeAvailabilityZones",
    "DescribeNetworkInterfaces",
    "DescribeVpcEndpoints",
):
    operation("ec2", _op)


# --- Application Auto Scaling: the target's ARN (its own id, `*` before it exists) with the namespace
# and dimension as condition keys; the first SageMaker registration creates the service-linked role
# with the caller's iam:CreateServiceLinkedRole (AWS: "Service-linked roles for Application Auto Scaling").
def _scalable_target_id(p: dict[str, Any], call: ApiCall) -> str:
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    targets = applicationautoscaling_backends[call.account_id][call.region].targets
    target = targets.get(p.get("ScalableDimension") or "", {}).get(p.get("ResourceId") or "")
    return target.arn.rsplit("/", 1)[-1] if target is not None else "*"


def _scaling_keys(p: dict[str, Any], call: ApiCall) -> dict[str, list[str]]:
    return {
        "application-autoscaling:service-namespace": [str(p.get("ServiceNamespace"))],
        "application-autoscaling:scalable-dimension": [str(p.get("ScalableDimension"))],
    }


def _service_linked_role(call: ApiCall) -> list[Check]:
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    from localaws.applicationautoscaling.responses import SLR_NAME, SLR_SERVICE

    if call.params.get("ServiceNamespace") != "sagemaker":
        return []
    iam = iam_backends[call.account_id][get_partition(call.region)]
    if any(role.name == SLR_NAME for role in iam.roles.values()):
        return []
    arn = f"arn:aws:iam::{call.account_id}:role/aws-service-role/{SLR_SERVICE}/{SLR_NAME}"
    return [Check("iam:CreateServiceLinkedRole", arn, {"iam:AWSServiceName": [SLR_SERVICE]})]


operation(
    "application-autoscaling",
    "RegisterScalableTarget",
    context=_scaling_keys,
    also=_service_linked_role,
    ResourceId=_scalable_target_id,
)
operation(
    "application-autoscaling",
    "PutScalingPolicy",
    "DeregisterScalableTarget",
    "DeleteScalingPolicy",
    context=_scaling_keys,
    ResourceId=_scalable_target_id,
)
operation("application-autoscaling", "DescribeScalableTargets", "DescribeScalingPolicies")


# --- API Gateway: the action is the HTTP method, the resource the path (as the reference says) ------
def _apigateway(call: ApiCall) -> list[Check]:
    return [Check(f"apigateway:{call.request.method}", f"arn:aws:apigateway:{call.region}::{call.request.path}")]


def _register_apigateway() -> None:
    from moto.core.utils import get_service_model

    for name in get_service_model("apigateway").operation_names:
        OPERATIONS[("apigateway", name)] = _apigateway


_register_apigateway()

# Referenced so the linter keeps the import: resource_arns is what each mapper calls.
__all__ = ["resource_arns"]
