# Stage: downstream task datasets. See docs/interfaces.md.
