"""How the outside world reaches the auth service: HTTP routes."""
