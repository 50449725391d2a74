"""Claim: the claim decision of every family, the claims ledger (one claim per family ever), and
the claim's files (claim file for the Department, claim register, finance summary)."""
