"""orchctl, the command-line client (talks to the API server only)."""
