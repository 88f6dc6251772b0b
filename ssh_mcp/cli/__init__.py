"""The ``ssh-mcp`` command line."""
