"""Use cases: what the tasks do, written against small interfaces."""
