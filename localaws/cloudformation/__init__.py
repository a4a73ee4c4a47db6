"""CloudFormation: moto's stacks and change sets, corrected where the DAGs' deploys depend on AWS's
behaviour (`patches`), plus the hook by which other services add resource types (`resource_types`)."""
