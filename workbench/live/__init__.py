"""Live trading: feeds, the headless runner and its crash-safe state."""
