"""Executing and sweeping runs on the worker side."""
