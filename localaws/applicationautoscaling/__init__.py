"""Application Auto Scaling: moto's state, with SageMaker variant targets validated as AWS does."""
