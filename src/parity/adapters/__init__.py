"""Thin adapters: the only code that touches the world (Docker, AWS, HTTP)."""
