"""IAM as the local stack enforces it: who a request's credentials are, and what they may do.

Followed from the wire: `LocalAwsStack.__call__` hands every signed request whose key is not the
stack's own (root) to `enforcement.Enforcer.authorize`: `principals` resolves the key (IAM user or
STS session), `actions`/`operations` give the IAM action(s) and resource ARN(s) of the operation
(formats from `reference`), `policy` evaluates them against the identity policies and the
resource's policy (`resource_policies`), `exercised` records each decision. `sessions` is how a
service (ECS, SageMaker, Lambda) assumes the role it runs code with, through the role's trust
policy; `Enforcer.authorize_role` checks what a service does itself with a role it holds.
`LOCALAWS_IAM=off` (or `LocalAwsStack(enforce_iam=False)`) turns enforcement off, for debugging.
"""
