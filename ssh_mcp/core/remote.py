"""The typed remote API as tools see it: the one door from ``tools/`` to a host.

A tool reaches its host only through its :class:`~ssh_mcp.core.spec.ToolContext`:
``ctx.remote(op, replay=...)`` hands ``op`` a :class:`Remote` (files, streams,
atomic writes, copies), and ``ctx.run`` runs processes. This module names the
types those return, so that ``tools/`` never imports ``ssh_mcp.ssh`` or asyncssh
(``tests/test_layers.py``).

A background job's on-host protocol (:mod:`ssh_mcp.ssh.jobs`) shows here only
through its pure parts: the argv that starts, probes and stops a job (run with
``ctx.run``, like any process), the parsers of what those print, and the
:class:`JobChunk` of output that :meth:`Remote.job_output` reads.

:func:`sudo_refusal` is the one error a tool builds from a
:class:`ProcessResult`: why a ``sudo=True`` run did not run as root;
:func:`temp_name` names the hidden sibling a change is built in. A directory moves as one
tar stream: :meth:`Remote.piped` runs ``tar`` with streamed stdin and stdout,
:class:`TarReader` follows the stream (progress, caps, a proper end) and
:class:`LocalTree` unpacks it on this server's disk, :class:`LocalTar` makes one of a
directory here.
"""

from __future__ import annotations

from ssh_mcp.ssh.elevated import sudo_refusal
from ssh_mcp.ssh.jobs import Chunk as JobChunk
from ssh_mcp.ssh.jobs import home_dir as job_home_dir
from ssh_mcp.ssh.jobs import parse_probe as parse_job_probe
from ssh_mcp.ssh.jobs import parse_started as parse_job_started
from ssh_mcp.ssh.jobs import probe_argv as job_probe_argv
from ssh_mcp.ssh.jobs import start_argv as job_start_argv
from ssh_mcp.ssh.jobs import stop_argv as job_stop_argv
from ssh_mcp.ssh.local_tar import LocalTar
from ssh_mcp.ssh.local_tree import LocalTree
from ssh_mcp.ssh.piped import Piped
from ssh_mcp.ssh.process import CappedBuffer, ProcessResult
from ssh_mcp.ssh.remote import DirEntry, FileAttrs, Remote
from ssh_mcp.ssh.tarstream import Member, TarReader
from ssh_mcp.ssh.transfer import Progress, Stamp, Written, temp_name

__all__ = [
    "CappedBuffer",
    "DirEntry",
    "FileAttrs",
    "JobChunk",
    "LocalTar",
    "LocalTree",
    "Member",
    "Piped",
    "ProcessResult",
    "Progress",
    "Remote",
    "Stamp",
    "TarReader",
    "Written",
    "job_home_dir",
    "job_probe_argv",
    "job_start_argv",
    "job_stop_argv",
    "parse_job_probe",
    "parse_job_started",
    "sudo_refusal",
    "temp_name",
]
