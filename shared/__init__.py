"""Code shared by the API and the worker: configuration, data, domain services, the Celery app."""
