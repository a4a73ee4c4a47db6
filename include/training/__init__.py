"""Recommender training for SageMaker (script mode) and locally: data, models, metrics, the entry
point (`train`) and the endpoint's inference handlers (`inference`).

Every model, whatever trained it, is saved as the same scoring artifact (`artifact`): item and
user factor matrices plus biases in `.npz`, ids and settings in JSON. Inference needs neither the
training libraries nor pickle.
"""
