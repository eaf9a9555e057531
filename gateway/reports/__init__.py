"""Figures published from the audit log, each bound to a signed checkpoint so anyone holding the
log can recompute them.

transparency  the transparency report: counts per instrument tier and period, banding, verify
formats       the report as JSON, CSV and HTML
"""
