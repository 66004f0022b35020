"""Thin controllers: parse, authorize, call a domain service, shape the answer."""
