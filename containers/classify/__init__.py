"""The classification step: a session-level class (e.g. lesion / no lesion) from a 3-D scan."""
