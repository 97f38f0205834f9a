"""Stage `splits`: train/validation/test splits of the pre-training sets."""
