"""What a trained model is made of and how it is judged: the estimator catalogue, the preprocessing
transformers pickled inside every model, adapters, the tasks (`tasks/`) and their metrics, what a
train version records (`train_info`), plain values, and the scoring of a trained model
(`scoring/`)."""
