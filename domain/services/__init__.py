"""Use cases over the database. Each takes a session and the principal asking, and scopes every query by it."""
