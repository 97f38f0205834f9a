# Stage: leakage-free splits by connected component. See docs/interfaces.md.
