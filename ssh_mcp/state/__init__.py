"""What the server keeps and writes between calls: the audit file, confirmation tokens."""
