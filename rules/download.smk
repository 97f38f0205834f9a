# Stage: downloads (genomes, annotations, homology tables, labels). See docs/interfaces.md.
