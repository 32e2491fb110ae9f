"""Run events: the durable, numbered record of what a run did, and its live fan-out."""
