"""Container health check (Docker HEALTHCHECK, compose and the ECS task
definition all run `python healthcheck.py`): exit 0 iff /health answers 200.
No curl in the image, so the venv's Python does it."""

import os
import sys
import urllib.request

port = os.environ.get("PORT", "4999")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=8) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception:  # any failure (refused, 503, timeout) means unhealthy
    sys.exit(1)
