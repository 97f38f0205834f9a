"""Shared by every stage: files written atomically, the nucleotide encoding, job logs."""
