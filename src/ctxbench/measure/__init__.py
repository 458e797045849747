"""Measuring the query core: timing, plan capture, server state per phase, the phase runner."""
