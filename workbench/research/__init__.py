"""Research tools: sweeps and parity, walk-forward analysis, overfitting statistics,
look-ahead audit, interactive widgets."""
