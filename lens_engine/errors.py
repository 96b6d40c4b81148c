"""Exceptions shared across the engine, importable without its heavy dependencies."""


class AnalysisCancelled(Exception):
    """Raised inside an analysis when its ``should_stop`` says so."""
