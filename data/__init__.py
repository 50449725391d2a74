"""The product's own data files (package data of ``tfclaims.data``): frameworks, local plan
examples, code lists, the purposes register, the link model and the built-in sample cohort."""
