"""Benchmarks of the service against its own encoder's limit.

Run `python -m bench run --scenario identify` and `python -m bench report`.
"""
