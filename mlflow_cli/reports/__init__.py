"""Plots (matplotlib, Agg) and the self-contained HTML report written by evaluate (and, next, monitor)."""
