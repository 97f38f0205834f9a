"""Stage `diagnostics`: what a frozen encoder learned (effective rank, alignment and uniformity, ortholog retrieval)."""
