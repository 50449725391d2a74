"""Prefect flows: one thin module per stage. They only wire ``tfclaims.pipeline`` to Prefect tasks."""
