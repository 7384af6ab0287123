"""Live board updates over WebSocket."""
