"""Staff accounts, roles and scopes, and the audit log (no Flask)."""
