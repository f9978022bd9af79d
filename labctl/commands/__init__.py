"""CLI command groups registered on `labctl.cli.app` (each module adds its own commands)."""
