"""isoclr: contrastive learning of mature-RNA representations over splice isoforms and homologs."""

__version__ = "0.1.0"
