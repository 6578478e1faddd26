"""The stack spec: models and loading (overlay merge + validation)."""

from parity.spec.load import load_stack, require_services
from parity.spec.models import Stack

__all__ = ["Stack", "load_stack", "require_services"]
