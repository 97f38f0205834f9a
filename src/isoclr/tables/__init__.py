"""Stage `tables`: summary tables and the comparison with the paper."""
