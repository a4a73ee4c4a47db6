"""Names every DAG and task module agrees on: one place to change a connection, a model or an image.

Names of AWS resources that differ per environment (stacks, SSM parameters, the model package group,
the endpoint, Personalize's resources) are not here: `mlops.deployment` derives them at run time.

DAG files import this at parse time, so it imports nothing. The alias names are also the policy's
vocabulary in `include/training/gate.py` (not importable at parse time); a unit test keeps both equal.
"""

AWS_CONN_ID = "aws_default"
MLFLOW_CONN_ID = "mlflow_default"

MODEL_NAME = "recommender"
# The registered models the endpoint serves: the only names model_drop accepts drops under.
SERVED_MODEL_NAMES = (MODEL_NAME,)
CHAMPION, CHALLENGER = "champion", "challenger"  # MLflow aliases, and the endpoint's variant names
TRAINING_EXPERIMENT = "recommender-training"
# What the training job can train (include/training/models.MODELS; a unit test keeps both equal) and
# the default: the benchmark's winner on NDCG@10 (README, Benchmarks).
TRAINING_MODELS = ("repeat", "fm", "als", "bpr", "popularity", "personal_popularity", "recency_popularity")
DEFAULT_MODEL = "repeat"
PERSONALIZE_EXPERIMENT = "personalize-training"

# Training and serving image (script mode). Empty: SageMaker's scikit-learn framework image for the
# AWS connection's region, at the newest version whose Python runs the code, from the SageMaker
# SDK's image-URI config (include/images.py, resolved at run time by mlops.tasks.common).
TRAINING_IMAGE = SERVING_IMAGE = ""

# Beside a served or hand-dropped model.tar.gz: which MLflow version it is (or why it was rejected).
MARKER = "_registration.json"

# The catalogue's description embeddings (catalogue_embeddings DAG): Bedrock model and vector size,
# also what model_training stages as the FM's description features.
EMBEDDING_MODEL_ID = "amazon.titan-embed-text-v2:0"
EMBEDDING_DIMENSIONS = 256
