"""The scheduler: pure filter and score plugins over a snapshot (plugins/, one module each;
framework.py) and
the loop that feeds them and binds pods (loop.py)."""
