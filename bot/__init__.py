"""madoguchi runtime: configuration, CLI, web server, platform adapters, workers and sandbox."""

__version__ = "0.1.0"
