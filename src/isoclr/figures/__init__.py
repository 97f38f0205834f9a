"""Stage `figures`: the paper's figures."""
