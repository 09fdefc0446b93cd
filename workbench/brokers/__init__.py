"""Broker and data feed adapters for real venues (Alpaca)."""
