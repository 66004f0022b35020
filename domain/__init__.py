"""The shared model of fieldwork: tables, state machines, policies and services. Knows no HTTP."""
