"""The HTTP layer: routing, auth, parsing, JSON shapes and the one error handler."""
