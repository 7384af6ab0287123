"""Adapters by technology: Redis, MongoDB, and the OpenID provider over HTTP."""
