"""Prefect flows: one thin module per stage. Each flow takes the command's options model whole
(``tfclaims.options``) and runs the plain-Python pipeline (``tfclaims.pipeline``) with every
table-level step as a Prefect task. The flow run is named by the tfclaims run id."""
