"""Reference strategies, one module each."""
