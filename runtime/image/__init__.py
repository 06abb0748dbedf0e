"""The image store, layers, references, base images."""
