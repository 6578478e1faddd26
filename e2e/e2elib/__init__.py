"""Helpers of the e2e suite: SSE timing, local-stack access, probes, the summary tree."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
