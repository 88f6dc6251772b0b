"""``python -m ssh_mcp``: the same as the ``ssh-mcp`` console script."""

from ssh_mcp.cli import main

raise SystemExit(main())
