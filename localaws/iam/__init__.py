"""IAM as the local stack enforces it: who a request's credentials are, and what they may do."""
