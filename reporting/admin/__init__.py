"""Administration in the app: staff users and their sessions, API tokens, the audit log (read-only)."""
