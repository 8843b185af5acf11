"""Controllers: one module each, a work queue of keys and an idempotent `sync(key)` (base.py)."""
