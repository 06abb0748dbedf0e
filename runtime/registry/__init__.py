"""Pulling and pushing images through registries (the OCI distribution API)."""
