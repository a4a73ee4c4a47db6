"""Every `AWS::ApiGateway::*` resource the templates use, really created in moto's API Gateway backend.

moto 5.2.5 models RestApi, Resource, Method and Deployment under CloudFormation, but its Method
drops RequestParameters, RequestValidatorId, MethodResponses and IntegrationResponses (and fails a
MOCK integration, which has no IntegrationHttpMethod), and a Deployment's `Ref` resolves to the
Python object instead of its id. Stage, ApiKey, UsagePlan, UsagePlanKey, RequestValidator and
GatewayResponse it does not model at all. Here each is checked against its CloudFormation resource
schema (`localaws.cloudformation.schemas`) and then against the API's own rules (the stage a usage
plan names must exist, a key is added to a plan once, ...) with API Gateway's error messages, and
created through moto's backend, so GetStage, GetApiKey, GetUsagePlanKeys... answer what the
template declared and the local data plane (`localaws.apigateway`) enforces it.

RestApi, Resource, Deployment and `AWS::Lambda::Permission` stay moto's, checked against their
schemas first. Updates replace the resource when a property changed (an unchanged one is kept), the delete removes
it: enough for the DAG's change sets, and what CloudFormation does for the create-only properties.
"""

from __future__ import annotations

import re
from typing import Any

from moto.apigateway import exceptions as apigw_errors
from moto.apigateway import models as apigw
from moto.core.common_models import CloudFormationModel

from localaws.cloudformation import resource_types
from localaws.cloudformation.schemas import validated

_STAGE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_QUOTA_PERIODS = ("DAY", "WEEK", "MONTH")  # botocore apigateway QuotaPeriodType
_METHOD_PARAMETER = re.compile(
    r"method\.request\.(path|querystring|multivaluequerystring|header|multivalueheader)\.\S+"
)


def _backend(account_id: str, region: str) -> apigw.APIGatewayBackend:
    return apigw.apigateway_backends[account_id][region]


def _bad_request(message: str) -> apigw_errors.BadRequestException:
    return apigw_errors.BadRequestException(message)


def _stage_of(backend: apigw.APIGatewayBackend, api_id: str, stage_name: str):
    api = backend.get_rest_api(api_id)
    return api.stages.get(stage_name)


class _ApiGatewayResource:
    """Shared CloudFormation plumbing: replace on change, keep when unchanged. A mixin: moto finds
    resource models among the direct subclasses of `CloudFormationModel` only."""

    TYPE = ""
    properties: dict[str, Any]

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        properties = validated(cls.TYPE, cloudformation_json.get("Properties", {}), region_name)
        if properties == original_resource.properties:
            return original_resource
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        return None

    def delete(self, account_id: str, region_name: str) -> None:
        raise NotImplementedError


class Stage(_ApiGatewayResource, CloudFormationModel):
    TYPE = "AWS::ApiGateway::Stage"

    def __init__(self, api_id: str, name: str, properties: dict[str, Any]) -> None:
        self.api_id, self.name, self.properties = api_id, name, properties

    @staticmethod
    def cloudformation_type() -> str:
        return Stage.TYPE

    @staticmethod
    def cloudformation_name_type() -> str:
        return "StageName"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = validated(cls.TYPE, cloudformation_json.get("Properties", {}), region_name)
        backend = _backend(account_id, region_name)
        api = backend.get_rest_api(props["RestApiId"])
        name = props.get("StageName") or resource_name
        if not _STAGE_NAME.match(name):
            raise _bad_request("Stage name only allows a-zA-Z0-9_-")
        deployment_id = props.get("DeploymentId")
        if not deployment_id:
            raise _bad_request("Deployment id must be specified")  # CreateStage: deploymentId is required
        if deployment_id not in api.deployments:
            raise apigw_errors.DeploymentNotFoundException()
        if props.get("CacheClusterSize") and not props.get("CacheClusterEnabled"):
            raise _bad_request("Cache cluster size can only be set when the cache cluster is enabled")
        tags = {t["Key"]: t["Value"] for t in props.get("Tags", [])} or None
        stage = backend.create_stage(
            api.id,
            name,
            deployment_id,
            variables=props.get("Variables") or {},
            description=props.get("Description", ""),
            cacheClusterEnabled=props.get("CacheClusterEnabled"),
            cacheClusterSize=props.get("CacheClusterSize"),
            tags=tags,
            tracing_enabled=props.get("TracingEnabled"),
        )
        for setting in props.get("MethodSettings", []):
            path, method = setting.get("ResourcePath"), setting.get("HttpMethod")
            if not path or not method:
                raise _bad_request("ResourcePath and HttpMethod are required in each MethodSetting")
            settings = {k[0].lower() + k[1:]: v for k, v in setting.items() if k not in ("ResourcePath", "HttpMethod")}
            stage.method_settings[f"{path.removeprefix('/')}/{method}"] = settings
        if props.get("AccessLogSetting"):
            stage.access_log_settings = {k[0].lower() + k[1:]: v for k, v in props["AccessLogSetting"].items()}
        return cls(api.id, name, props)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        if _stage_of(backend, self.api_id, self.name) is not None:
            backend.delete_stage(self.api_id, self.name)


class ApiKey(_ApiGatewayResource, CloudFormationModel):
    TYPE = "AWS::ApiGateway::ApiKey"

    def __init__(self, key_id: str, properties: dict[str, Any]) -> None:
        self.id, self.properties = key_id, properties

    @staticmethod
    def cloudformation_type() -> str:
        return ApiKey.TYPE

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "APIKeyId"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.id

    @property
    def physical_resource_id(self) -> str:
        return self.id

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = validated(cls.TYPE, cloudformation_json.get("Properties", {}), region_name)
        backend = _backend(account_id, region_name)
        stage_keys = []
        for stage_key in props.get("StageKeys", []):
            api_id, stage_name = stage_key.get("RestApiId"), stage_key.get("StageName")
            if not api_id or not stage_name or _stage_of(backend, api_id, stage_name) is None:
                raise _bad_request(f"Invalid stage key: {api_id}/{stage_name}")
            stage_keys.append(f"{api_id}/{stage_name}")
        payload = {
            "name": props.get("Name") or resource_name,
            "description": props.get("Description"),
            "enabled": bool(props.get("Enabled", False)),  # the schema's default: a key is disabled
            "generateDistinctId": bool(props.get("GenerateDistinctId", False)),
            "value": props.get("Value"),
            "stageKeys": stage_keys,
            "customerId": props.get("CustomerId"),
            "tags": {t["Key"]: t["Value"] for t in props.get("Tags", [])} or None,
        }
        key = backend.create_api_key(payload)
        return cls(key.id, props)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        if self.id in backend.keys:
            backend.delete_api_key(self.id)


class UsagePlan(_ApiGatewayResource, CloudFormationModel):
    TYPE = "AWS::ApiGateway::UsagePlan"

    def __init__(self, plan_id: str, properties: dict[str, Any]) -> None:
        self.id, self.properties = plan_id, properties

    @staticmethod
    def cloudformation_type() -> str:
        return UsagePlan.TYPE

    @staticmethod
    def cloudformation_name_type() -> str:
        return "UsagePlanName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.id

    @property
    def physical_resource_id(self) -> str:
        return self.id

    @staticmethod
    def _throttle(settings: dict[str, Any]) -> dict[str, Any]:
        out = {}
        if "BurstLimit" in settings:
            out["burstLimit"] = int(settings["BurstLimit"])
        if "RateLimit" in settings:
            out["rateLimit"] = float(settings["RateLimit"])
        return out

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = validated(cls.TYPE, cloudformation_json.get("Properties", {}), region_name)
        backend = _backend(account_id, region_name)
        name = props.get("UsagePlanName") or resource_name
        api_stages = []
        for api_stage in props.get("ApiStages", []):
            api_id, stage_name = api_stage.get("ApiId"), api_stage.get("Stage")
            if not api_id or not stage_name or api_id not in backend.apis:
                raise _bad_request(f"Invalid API identifier specified {account_id}:{api_id}")
            if _stage_of(backend, api_id, stage_name) is None:
                raise _bad_request(f"Invalid API Stage {{api: {api_id}, stage: {stage_name}}} specified for usageplan")
            entry: dict[str, Any] = {"apiId": api_id, "stage": stage_name}
            if api_stage.get("Throttle"):
                entry["throttle"] = {path: cls._throttle(t) for path, t in api_stage["Throttle"].items()}
            api_stages.append(entry)
        quota = props.get("Quota")
        if quota is not None:
            if quota.get("Period") not in _QUOTA_PERIODS:
                raise _bad_request(f"Invalid quota period {quota.get('Period')!r}: one of {', '.join(_QUOTA_PERIODS)}")
            if "Limit" not in quota:
                raise _bad_request("Quota limit must be specified")
            quota = {"limit": int(quota["Limit"]), "period": quota["Period"], "offset": int(quota.get("Offset", 0))}
            if quota["offset"] >= quota["limit"]:
                raise _bad_request("Quota offset must be less than the quota limit")
        throttle = cls._throttle(props.get("Throttle") or {})
        payload = {
            "name": name,
            "description": props.get("Description"),
            "apiStages": api_stages,
            "throttle": throttle or None,
            "quota": quota,
            "tags": {t["Key"]: t["Value"] for t in props.get("Tags", [])} or None,
        }
        plan = backend.create_usage_plan(payload)
        return cls(plan.id, props)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        if self.id in backend.usage_plans:
            backend.delete_usage_plan(self.id)


class UsagePlanKey(_ApiGatewayResource, CloudFormationModel):
    TYPE = "AWS::ApiGateway::UsagePlanKey"

    def __init__(self, key_id: str, plan_id: str, properties: dict[str, Any]) -> None:
        self.key_id, self.plan_id, self.properties = key_id, plan_id, properties

    @staticmethod
    def cloudformation_type() -> str:
        return UsagePlanKey.TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.physical_resource_id

    @property
    def physical_resource_id(self) -> str:
        return f"{self.key_id}:{self.plan_id}"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = validated(cls.TYPE, cloudformation_json.get("Properties", {}), region_name)
        backend = _backend(account_id, region_name)
        backend.get_usage_plan(props["UsagePlanId"])  # "Invalid Usage Plan ID specified"
        if props["KeyId"] in backend.usage_plan_keys.get(props["UsagePlanId"], {}):
            raise apigw_errors.ConflictException("Usage Plan Key already exists")  # a key joins a plan once
        backend.create_usage_plan_key(props["UsagePlanId"], {"keyId": props["KeyId"], "keyType": props["KeyType"]})
        return cls(props["KeyId"], props["UsagePlanId"], props)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        if self.key_id in backend.usage_plan_keys.get(self.plan_id, {}):
            backend.delete_usage_plan_key(self.plan_id, self.key_id)


class RequestValidator(_ApiGatewayResource, CloudFormationModel):
    TYPE = "AWS::ApiGateway::RequestValidator"

    def __init__(self, api_id: str, validator_id: str, properties: dict[str, Any]) -> None:
        self.api_id, self.id, self.properties = api_id, validator_id, properties

    @staticmethod
    def cloudformation_type() -> str:
        return RequestValidator.TYPE

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "RequestValidatorId"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.id

    @property
    def physical_resource_id(self) -> str:
        return self.id

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = validated(cls.TYPE, cloudformation_json.get("Properties", {}), region_name)
        backend = _backend(account_id, region_name)
        validator = backend.create_request_validator(
            props["RestApiId"],
            props.get("Name") or resource_name,
            bool(props.get("ValidateRequestBody", False)),
            bool(props.get("ValidateRequestParameters", False)),
        )
        return cls(props["RestApiId"], validator.id, props)

    def delete(self, account_id: str, region_name: str) -> None:
        api = _backend(account_id, region_name).get_rest_api(self.api_id)
        api.request_validators.pop(self.id, None)


class GatewayResponse(_ApiGatewayResource, CloudFormationModel):
    TYPE = "AWS::ApiGateway::GatewayResponse"

    def __init__(self, api_id: str, response_type: str, properties: dict[str, Any]) -> None:
        self.api_id, self.response_type, self.properties = api_id, response_type, properties

    @staticmethod
    def cloudformation_type() -> str:
        return GatewayResponse.TYPE

    @property
    def physical_resource_id(self) -> str:
        return f"{self.api_id}:{self.response_type}"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = validated(cls.TYPE, cloudformation_json.get("Properties", {}), region_name)
        api = _backend(account_id, region_name).get_rest_api(props["RestApiId"])
        api.put_gateway_response(
            props["ResponseType"],
            props.get("StatusCode"),
            props.get("ResponseParameters") or {},
            props.get("ResponseTemplates") or {},
        )
        return cls(api.id, props["ResponseType"], props)

    def delete(self, account_id: str, region_name: str) -> None:
        api = _backend(account_id, region_name).get_rest_api(self.api_id)
        api.gateway_responses.pop(self.response_type, None)


def _method_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    """moto's Method keeps only the type, authorization and key flag of a method: this keeps every
    property, with the checks PutMethod/PutIntegration make."""
    props = validated("AWS::ApiGateway::Method", cloudformation_json.get("Properties", {}), region_name)
    backend = _backend(account_id, region_name)
    api = backend.get_rest_api(props["RestApiId"])
    validator_id = props.get("RequestValidatorId")
    if validator_id:
        api.get_request_validator(validator_id)  # "Invalid Request Validator Id specified"
    for name in props.get("RequestParameters", {}):
        if not _METHOD_PARAMETER.fullmatch(name):
            raise _bad_request(
                f"Invalid mapping expression specified: Validation Result: warnings : [], errors : [{name}]"
            )
    method = backend.put_method(
        function_id=api.id,
        resource_id=props["ResourceId"],
        method_type=props["HttpMethod"],
        authorization_type=props.get("AuthorizationType", "NONE"),
        api_key_required=bool(props.get("ApiKeyRequired", False)),
        request_parameters=props.get("RequestParameters"),
        request_models=props.get("RequestModels"),
        operation_name=props.get("OperationName"),
        authorizer_id=props.get("AuthorizerId"),
        authorization_scopes=props.get("AuthorizationScopes"),
        request_validator_id=validator_id,
    )
    for response in props.get("MethodResponses", []):
        backend.put_method_response(
            api.id,
            props["ResourceId"],
            props["HttpMethod"],
            str(response["StatusCode"]),
            response.get("ResponseModels"),
            response.get("ResponseParameters"),
        )
    integration = props.get("Integration")
    if integration:
        backend.put_integration(
            function_id=api.id,
            resource_id=props["ResourceId"],
            method_type=props["HttpMethod"],
            integration_type=integration["Type"],
            uri=integration.get("Uri", ""),
            integration_method=integration.get("IntegrationHttpMethod"),
            credentials=integration.get("Credentials"),
            request_templates=integration.get("RequestTemplates"),
            passthrough_behavior=integration.get("PassthroughBehavior"),
            cache_namespace=integration.get("CacheNamespace"),
            timeout_in_millis=integration.get("TimeoutInMillis"),
            request_parameters=integration.get("RequestParameters"),
            content_handling=integration.get("ContentHandling"),
            connection_type=integration.get("ConnectionType"),
        )
        declared = {
            str(r["StatusCode"]): set(r.get("ResponseParameters") or {}) for r in props.get("MethodResponses", [])
        }
        for response in integration.get("IntegrationResponses", []):
            # PutIntegrationResponse: a header mapped must be declared by the method response
            undeclared = [
                name
                for name in (response.get("ResponseParameters") or {})
                if name not in declared.get(str(response["StatusCode"]), set())
            ]
            if undeclared:
                raise _bad_request(
                    "Invalid mapping expression specified: Validation Result: warnings : [], errors : "
                    f"[Invalid mapping expression specified: {', '.join(undeclared)}]"
                )
            backend.put_integration_response(
                api.id,
                props["ResourceId"],
                props["HttpMethod"],
                str(response["StatusCode"]),
                response.get("SelectionPattern"),
                response.get("ResponseTemplates") or {},
                response.get("ResponseParameters") or {},
                response.get("ContentHandling"),
            )
    return method


def _schema_checked(model, resource_type: str):
    """moto's own create for `model`, after the resource schema's check (moto reads only the
    properties it knows and ignores the rest, misspelt or missing ones included)."""
    create = model.create_from_cloudformation_json.__func__

    def checked(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        validated(resource_type, cloudformation_json.get("Properties", {}), region_name)
        return create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    return classmethod(checked)


def install() -> None:
    from moto.awslambda.models import Permission

    for model, resource_type in (
        (apigw.RestAPI, "AWS::ApiGateway::RestApi"),
        (apigw.Resource, "AWS::ApiGateway::Resource"),
        (apigw.Deployment, "AWS::ApiGateway::Deployment"),
        (Permission, "AWS::Lambda::Permission"),
    ):
        model.create_from_cloudformation_json = _schema_checked(model, resource_type)
    apigw.Method.create_from_cloudformation_json = classmethod(_method_from_cloudformation_json)
    apigw.Deployment.physical_resource_id = property(lambda self: self.id)
    resource_types.refresh()
