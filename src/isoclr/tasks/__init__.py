"""Stage `tasks`: downstream task files (labels, folds, GO terms)."""
