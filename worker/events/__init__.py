"""Worker-side upkeep of the run event log."""
