"""Shared by unit and integration tests: where things are."""

import pathlib

import pytest

PROJECT = pathlib.Path(__file__).resolve().parent.parent
CONFORMANCE = PROJECT.parent / "shared" / "conformance"


def conformance_dir(name: str) -> pathlib.Path:
    """A folder of ../shared/conformance, or skip (with the reason) where it is absent."""
    d = CONFORMANCE / name
    if not d.is_dir():
        pytest.skip(f"conformance data not found at {d} (it lives beside the project)")
    return d
