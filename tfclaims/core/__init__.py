"""The shared core every stage stands on: errors, the council config, the cohort's tables,
identifiers, atomic and formula-safe writing, the orchestration seam, the product's own data
files and the workspace that holds a council's state."""
