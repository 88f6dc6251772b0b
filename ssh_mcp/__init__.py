"""ssh-mcp: a strict, fast MCP server for audited SSH access."""

__version__ = "0.1.0"
