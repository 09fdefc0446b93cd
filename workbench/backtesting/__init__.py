"""Event-driven backtest: the event loop, results, metrics and plots."""
