"""The broker queues, named once: task routes, the worker's `-Q` and the release step use them."""

QUEUES = ("runs", "webhooks", "maintenance")
