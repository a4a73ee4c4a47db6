"""AWS Lambda functions that really run: each invocation in a worker process with the function's role."""
