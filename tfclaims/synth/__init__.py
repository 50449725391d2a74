"""Seeded synthetic cohorts for tests, demos and benchmarks (no real person in them)."""
