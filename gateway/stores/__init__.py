"""Stores the gateway can front. `base.Store` is the one interface the release pipeline sees."""
