"""Runtime pieces every cardstream service uses: settings base, JWT verification, JSON logs and
the JSON error middleware. Kept small; domain code never imports it."""
