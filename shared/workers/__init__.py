"""Worker processes as the database sees them: heartbeats, so readiness can tell if any is alive."""
