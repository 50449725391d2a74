"""tfclaims: the Troubled Families / Supporting Families payment-by-results claims pipeline.

The pipeline reads as its stages: ingest -> link -> identify -> track -> claim -> spot_check.
Every stage is plain Python over pandas DataFrames; ``flows/`` wraps them as Prefect flows.
"""

__version__ = "0.1.0"
