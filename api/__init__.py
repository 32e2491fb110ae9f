"""Parley's HTTP API: thin FastAPI routes over the shared domain services."""
