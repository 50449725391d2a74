"""``tfclaims validate``."""

from __future__ import annotations


from tfclaims.cli import app
from tfclaims.cli._common import AuditOpt, ConfigOpt, InputOpt, OperatorOpt, OutOpt, StrictOpt, print_counts, print_outputs, resolve_out
from tfclaims.core.config import load_config
from tfclaims.core.orchestration import use_prefect
from tfclaims.pipeline import Options, new_run_id, validate


@app.command("validate")
def validate_command(input: InputOpt, out: OutOpt = None, strict: StrictOpt = False, config: ConfigOpt = None,
                     audit: AuditOpt = None, operator: OperatorOpt = None) -> None:
    """Read and validate a cohort: bad rows quarantined with a row-level report (validation_errors.csv/.xlsx)."""
    run_id = new_run_id()
    out = resolve_out(out, run_id)
    if use_prefect():
        from tfclaims.flows.ingest import validate_flow

        validate_flow(input, out, run_id, config, strict, audit, operator)
    else:
        validate(Options(input, out, load_config(config), audit_path=audit, operator=operator, strict=strict, run_id=run_id))
    import json

    summary = json.loads((out / "run_summary.json").read_text(encoding="utf-8"))
    print_counts(summary["tables"])
    print_outputs(out, summary)
