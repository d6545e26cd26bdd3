"""Real servers the unit and contract tests start on [::1] (no namespaces, no lab)."""
