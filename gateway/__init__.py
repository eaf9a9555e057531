"""Warrant Scope Gateway: releases exactly what a warrant names, pseudonymizes everyone else,
and audits every release."""

__version__ = "0.1.0"
