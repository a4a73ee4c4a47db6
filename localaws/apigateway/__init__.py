"""API Gateway REST APIs served: invoke URLs of deployed stages reachable on the local stack."""

from localaws.apigateway.addressing import local_invoke_url

__all__ = ["local_invoke_url"]
