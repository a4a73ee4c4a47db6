"""SageMaker real-time endpoints that really serve: `models` deploys each production variant as a
`model_server` process and routes InvokeEndpoint by weight, `responses` answers the endpoint
operations (moto has no serving at all)."""
