# The `mlops-mlflow` image: the self-hosted MLflow tracking server of infra/mlflow-selfhosted.yaml
# (its task definition runs `mlflow server ...` against PostgreSQL and S3 through `sh -c`).
# Build from the project root:
#   docker build -f docker/mlflow.Dockerfile -t <account>.dkr.ecr.<region>.amazonaws.com/mlops-mlflow:3.17.2 .
# then pass the URI as the stack's MlflowImage parameter.
FROM python:3.11-slim

# bash with pipefail: a failing grep fails the build instead of installing nothing
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN useradd --create-home --uid 10001 mlflow
COPY requirements.txt /tmp/requirements.txt
# The server, the PostgreSQL driver and boto3 for the S3 artifact store, at the versions the project
# locked (the same MLflow as its client); hashes dropped, their own dependencies resolved by pip.
RUN grep -E '^(mlflow|mlflow-skinny|psycopg2-binary|boto3|botocore|s3transfer)==' /tmp/requirements.txt \
      | sed 's/ \\$//' > /tmp/server-requirements.txt \
 && pip install --no-cache-dir -r /tmp/server-requirements.txt \
 && rm /tmp/*.txt

# numeric, so the runtime need not resolve the name (the uid of `useradd` above)
USER 10001
EXPOSE 5000
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]
