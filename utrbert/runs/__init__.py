"""Running experiments that last: provenance of every run, the method registry and the resumable item store."""
