"""Names every DAG and task module agrees on: one place to change a connection, a model or an image.

DAG files import this at parse time, so it imports nothing. The alias names are also the policy's
vocabulary in `include/training/gate.py` (not importable at parse time); a unit test keeps both equal.
"""

AWS_CONN_ID = "aws_default"
MLFLOW_CONN_ID = "mlflow_default"

MODEL_NAME = "recommender"
CHAMPION, CHALLENGER = "champion", "challenger"  # MLflow aliases, and the endpoint's variant names
PACKAGE_GROUP = "mlops-recommender"  # SageMaker model package group mirroring the MLflow versions
TRAINING_EXPERIMENT = "recommender-training"
PERSONALIZE_EXPERIMENT = "personalize-training"

# SageMaker's scikit-learn framework image (script mode), for training and serving alike;
# numpy/pandas/scipy are in it, the rest comes from the source directory's requirements.txt.
# Account 683313688378 serves us-east-1.
FRAMEWORK_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
TRAINING_IMAGE = SERVING_IMAGE = FRAMEWORK_IMAGE

# Beside a served or hand-dropped model.tar.gz: which MLflow version it is (or why it was rejected).
MARKER = "_registration.json"
