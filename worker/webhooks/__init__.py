"""Webhook delivery in the worker: a guarded HTTP client, the attempt, and the sweeper."""
