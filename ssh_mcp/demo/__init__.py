"""``ssh-mcp demo`` and the throwaway local SSH host it (and ``bench/``) runs against."""
