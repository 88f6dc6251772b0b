"""The SSH layer: asyncssh connections, the pool, processes and SFTP.

It knows asyncssh and nothing of MCP, configuration files or policy; callers
hand it plain ``ConnectSpec`` values. asyncssh exceptions are translated into
``ssh_mcp.errors`` at this layer's edge.
"""
