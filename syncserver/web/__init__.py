"""The HTTP API (docs/spec/api-v1.md): the app factory and the entry point."""

from ._app import create_app, serve

__all__ = ["create_app", "serve"]
