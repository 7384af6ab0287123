"""Sign-in with Google (OpenID Connect) and cardstream's own access tokens."""
