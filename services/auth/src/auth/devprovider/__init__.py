"""A local OpenID provider standing in for Google where Google cannot be reached."""
