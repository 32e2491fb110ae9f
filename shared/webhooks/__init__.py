"""Webhooks: the signed POST a run's webhook_url gets when the run ends (docs/api.md section 6)."""
