"""Simulated venue: fill rules, costs and the simulated broker."""
