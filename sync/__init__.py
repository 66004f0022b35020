"""Offline sync protocol for technicians' phones (engine, mutation handlers). Arrives with the sync issue."""
