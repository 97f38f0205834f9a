"""Stage `evaluate`: embeddings, encoders and baselines, probes, fine-tuning, metrics."""
