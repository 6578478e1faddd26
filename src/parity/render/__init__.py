"""Pure renderers: spec in, artefact out. No I/O here."""
