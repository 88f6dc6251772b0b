"""Confinement of ``local_path`` arguments to SSH_LOCAL_TRANSFER_ROOTS.

These paths are on the server's own disk, so they resolve here with
``os.path.realpath`` (every symlink followed). The feature is off while no
root is configured. Roots are compared on whole components, as remote paths are.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ssh_mcp.errors import PathNotAllowed
from ssh_mcp.policy.paths import is_within, precheck


def confine_local(path: str, roots: Sequence[str], *, create: bool) -> str:
    """The resolved ``path`` if it lies inside a root; raise PathNotAllowed otherwise."""
    if not roots:
        raise PathNotAllowed(
            "local_path is off: set SSH_LOCAL_TRANSFER_ROOTS to the local directories "
            "transfers may use, or omit local_path"
        )
    precheck(path)
    if not os.path.isabs(path):
        raise PathNotAllowed("local_path must be absolute")
    real = os.path.realpath(path)
    if not create and not os.path.exists(real):
        raise PathNotAllowed(f"local_path {path} does not exist")
    if create and not os.path.isdir(os.path.dirname(real)):
        raise PathNotAllowed(f"the directory of local_path {path} does not exist")
    resolved_roots = [os.path.realpath(r) for r in roots]
    if not any(is_within(real, root) for root in resolved_roots):
        raise PathNotAllowed(
            f"local_path resolves to {real}, outside SSH_LOCAL_TRANSFER_ROOTS "
            f"({', '.join(resolved_roots)}); use a path inside them"
        )
    return real
