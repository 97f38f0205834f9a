"""Stage `homology`: merge isoform groups across species into homology sets."""
