"""What a trained model is made of and how it is judged: the estimator catalogue, the preprocessing
transformers pickled inside every model, adapters, metrics and the scoring of a trained model."""
