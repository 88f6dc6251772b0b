"""Tool schemas kept between runs, so that a new server need not generate them again.

Generating the JSON Schemas of the listed tools is most of what a server does between its
imports and its first answer (DECISIONS.md 83). They depend only on the code and on
pydantic, so a run stores them in ``$XDG_CACHE_HOME/ssh-mcp/schemas.json`` under a key
made of those, and the next run with the same key reads them instead. The key covers the
size and mtime of every module of the package (any edit or upgrade changes one), the
package, pydantic and Python versions. A cache that cannot be read, written or parsed is
ignored: it only saves time. Validation never reads it: the models validate every call.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from ssh_mcp.state._files import write_private


def code_key(package: Path, *versions: str) -> str:
    """A digest of every module under ``package`` (path, size, mtime) and ``versions``."""
    h = hashlib.sha256("\0".join((*versions, sys.version)).encode())
    for root, dirs, files in os.walk(package):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                st = os.stat(os.path.join(root, name))
                h.update(f"\0{root}/{name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()


class SchemaCache:
    """Schemas by name, read from ``path`` when its key is ``key``, and written back once
    a run has added to them."""

    def __init__(self, path: Path | None, key: str) -> None:
        self.path = path
        self.key = key
        self.schemas: dict[str, dict[str, Any]] = {}
        self._added = False
        if path is not None:
            try:
                stored = json.loads(path.read_bytes())
            except (OSError, ValueError):
                return
            if isinstance(stored, dict) and stored.get("key") == key:
                found = stored.get("schemas")
                self.schemas = found if isinstance(found, dict) else {}

    def get(self, name: str) -> dict[str, Any] | None:
        return self.schemas.get(name)

    def put(self, name: str, schema: dict[str, Any]) -> None:
        self.schemas[name] = schema
        self._added = True

    def save(self) -> None:
        """Write the schemas back if this run added any; a failure only costs the next run
        the time to generate them."""
        if self.path is None or not self._added:
            return
        body = json.dumps({"key": self.key, "schemas": self.schemas}, separators=(",", ":"))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_private(self.path, body.encode())
        except OSError:
            return
        self._added = False
