"""Runtime pieces every cardstream service uses: starting a service, the settings base, JWT
verification, the cached JSON fetch behind it, JSON logs and the JSON error middleware.

Kept small. Domain code imports only its pure modules (`kid`); everything else is for adapters
and entrypoints. See libs/runtime/README.md."""
