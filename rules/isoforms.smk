# Stage: species isoform stores (HDF5). See docs/interfaces.md.


def data_targets():
    return expand(results("stores", "{species}.h5"), species=SPECIES)
