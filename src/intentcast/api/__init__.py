"""The HTTP API: Litestar app factory, controllers per resource, auth, errors."""
