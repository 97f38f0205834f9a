"""Stage `store`: annotation readers, genome and transcript sources, the HDF5 isoform store."""
