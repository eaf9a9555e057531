"""The web console: officers, reviewers and auditors in the browser, over the gateway's own
services (`wsg serve --console HOST:PORT`). See gateway/console/app.py for the routes."""

from gateway.console.app import Console, attach_console

__all__ = ["Console", "attach_console"]
