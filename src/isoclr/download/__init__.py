"""Stage `download`: fetch genomes, annotations and tables, verified and retried."""
