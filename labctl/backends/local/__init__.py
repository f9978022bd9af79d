"""The embedded `local` target (moved from labctl/backends/local.py; split by concern next)."""

from labctl.backends.local.backend import ANALOGUES, LocalBackend, tracking_env

__all__ = ["ANALOGUES", "LocalBackend", "tracking_env"]
