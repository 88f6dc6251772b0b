"""The core: tool declarations, the per-call context, the dispatch steps and app wiring."""
