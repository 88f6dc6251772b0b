"""The MCP edge: the low-level SDK server, stdio and HTTP; the only package importing the SDK."""
