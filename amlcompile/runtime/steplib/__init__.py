"""Modules a step process imports as top-level modules (this folder is on its PYTHONPATH)."""
