"""Warrants: the lifecycle of legal process inside the gateway.

book        the state machine: submit, approve, reject, revoke; two-person rule; resolution
validation  what a spec must satisfy (normalized text, no look-alike identifiers, bounds)
table       where warrants are kept: the interface the backends implement
file        the YAML warrant file officers write (docs/architecture.md), read strictly
"""
