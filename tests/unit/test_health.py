"""engine/health.py without root: a record's healthcheck with Docker's defaults, the
command a check runs, and health.json read back."""

from __future__ import annotations

import json

from runtime.engine import health


def test_settings_fill_dockers_defaults():
    assert health.settings(None) is None
    assert health.settings({"Test": ["NONE"]}) is None  # --no-healthcheck
    assert health.settings({"Test": []}) is None
    s = health.settings({"Test": ["CMD", "true"], "Retries": 5, "Timeout": 0})
    assert s == {"Test": ["CMD", "true"], "Interval": 30 * 10**9, "Timeout": 30 * 10**9,
                 "Retries": 5, "StartPeriod": 0}


def test_argv():
    assert health.argv(["CMD-SHELL", "curl -f localhost || exit 1"]) == [
        "/bin/sh", "-c", "curl -f localhost || exit 1"]
    assert health.argv(["CMD", "pg_isready", "-q"]) == ["pg_isready", "-q"]


def test_read(tmp_path):
    assert health.read(str(tmp_path)) is None
    (tmp_path / health.FILE).write_text("{not json")
    assert health.read(str(tmp_path)) is None  # a torn write reads as none, not a crash
    (tmp_path / health.FILE).write_text(json.dumps({"Status": "healthy"}))
    assert health.read(str(tmp_path)) == {"Status": "healthy"}
