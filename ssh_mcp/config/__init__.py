"""Operator configuration: settings from the environment, the host inventory, defaults."""
