# Stage: homology merge into transcript sets. See docs/interfaces.md.
