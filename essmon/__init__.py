"""essmon: remote monitoring service for battery storage systems."""
