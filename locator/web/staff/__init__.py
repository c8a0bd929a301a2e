"""The staff back office at ``/staff``."""
