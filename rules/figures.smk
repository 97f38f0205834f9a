# Stage: figures, each its own target.
