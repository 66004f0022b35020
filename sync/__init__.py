"""Offline sync for technicians' phones: exactly-once push, commit-ordered pull, per-technician scope."""
