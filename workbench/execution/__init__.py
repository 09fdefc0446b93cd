"""Execution: strategy intents (after risk) into broker orders."""
