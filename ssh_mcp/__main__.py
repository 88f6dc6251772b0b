"""``python -m ssh_mcp``: the same as the ``ssh-mcp`` console script."""

from ssh_mcp.cli.main import main

raise SystemExit(main())
