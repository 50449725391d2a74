"""The purposes register against the privacy notice, and the purpose/recipient checks."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from tfclaims.core.cohort import TABLES
from tfclaims.core.errors import ConfigError, InputError
from tfclaims.core.resources import PRIVACY_DIR
from tfclaims.audit.purposes import (
    COMMAND_PURPOSES,
    REGISTER_PATH,
    TF_PURPOSES,
    check_recipient,
    load_register,
    output_route,
    purpose_for_command,
)

NOTICE = PRIVACY_DIR / "privacy-notice.txt"


def notice_section(heading: str) -> list[str]:
    """The bullet lines under one heading of the notice (runs of spaces, non-breaking too, read as one)."""
    lines = NOTICE.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    out: list[str] = []
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if stripped.startswith("•"):
            out.append(" ".join(stripped.lstrip("•").split()))
        elif out and stripped and not stripped.startswith("•"):
            break
    return out


@pytest.fixture(scope="module")
def register():
    return load_register()


def write_variant(tmp_path: Path, change) -> Path:
    raw = yaml.safe_load(REGISTER_PATH.read_text(encoding="utf-8"))
    change(raw)
    p = tmp_path / "purposes.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return p


def test_the_four_tf_purposes_carry_the_notices_exact_wording(register):
    reasons = notice_section("The reasons we use your data")
    assert len(reasons) == 21
    tf_reasons = [r for r in reasons if "troubled families" in r.lower()]
    assert len(tf_reasons) == 4
    assert [p.id for p in register.purposes] == list(TF_PURPOSES)
    assert sorted(p.wording for p in register.purposes) == sorted(tf_reasons)
    assert register.purpose("identification").wording == (
        "identification of families eligible for inclusion in Troubled Families Programme"
    )
    assert register.purpose("pbr_claim").wording == "troubled Families Programme payment by results claim"


def test_every_recipient_of_the_notice_is_in_the_register_verbatim(register):
    sharing = notice_section("Who we can share your data with")
    assert len(sharing) == 24
    from_notice = {r.name for r in register.recipients if r.source == "notice"}
    assert from_notice == set(sharing)
    internal = {r.id for r in register.recipients if r.source == "internal"}
    assert {"council_tf_team", "council_finance", "internal_audit"} <= internal
    assert register.recipient("dfe").name == "Department for Education and their agencies"


def test_every_law_of_the_notice_is_in_the_register_and_purposes_cite_only_those(register):
    laws = notice_section("Why we are allowed to use your data")
    assert {law.title for law in register.laws} == set(laws)
    for p in register.purposes:
        assert p.laws, p.id


def test_notice_date_and_automated_decisions(register):
    assert register.notice.last_updated == dt.date(2019, 9, 4)
    assert "last updated on 4 September 2019" in NOTICE.read_text(encoding="utf-8")
    assert register.notice.automated_decisions == notice_section("When computers make any decisions about you")
    assert "CP-IS" in register.notice.automated_decisions[0]
    assert register.notice.automated_decisions_in_this_product.startswith("None.")
    assert register.notice.overseas_transfers == notice_section("When your data gets sent to other countries")


def test_lawful_bases_of_every_purpose(register):
    for p in register.purposes:
        articles = register.lawful_basis_articles(p.id)
        assert articles == ["UK GDPR Art 6(1)(e)", "UK GDPR Art 9(2)(g)", "UK GDPR Art 10"]
    for basis_id in ("substantial_public_interest", "criminal_offence_data"):
        basis = register.basis(basis_id)
        refs = [c.reference for c in basis.dpa2018_conditions]
        assert "DPA 2018 Sch 1 Pt 2 para 6" in refs
        assert all(c.council_to_confirm for c in basis.dpa2018_conditions)


def test_data_categories_are_the_contract_tables(register):
    assert [c.table for c in register.data_categories] == list(TABLES)
    assert next(c for c in register.data_categories if c.table == "health").special_category
    assert next(c for c in register.data_categories if c.table == "offences").criminal_offence
    for p in register.purposes:
        assert set(p.data_categories) <= set(TABLES)


@pytest.mark.parametrize(
    ("command", "purposes"),
    [
        ("validate", ("identification",)),
        ("identify", ("identification",)),
        ("track", ("tracking",)),
        ("claim", ("pbr_claim",)),
        ("ledger withdraw", ("pbr_claim",)),
        ("spot-check", ("spot_checks",)),
        ("reconcile", ("spot_checks", "pbr_claim")),
        ("run", TF_PURPOSES),
        ("demo", TF_PURPOSES),
        ("synth", ()),
    ],
)
def test_purpose_for_command(command, purposes, register):
    assert purpose_for_command(command, register) == purposes


def test_a_command_without_a_purpose_cannot_run(register):
    with pytest.raises(InputError, match="no purpose"):
        purpose_for_command("export-everything", register)


def test_a_command_cannot_run_under_a_purpose_the_register_lacks(tmp_path):
    path = write_variant(
        tmp_path,
        lambda raw: (
            raw.__setitem__("purposes", [p for p in raw["purposes"] if p["id"] != "spot_checks"]),
            raw.__setitem__("outputs", {k: v for k, v in raw["outputs"].items() if v["purpose"] != "spot_checks"}),
        ),
    )
    reg = load_register(path)
    assert purpose_for_command("claim", reg) == ("pbr_claim",)
    with pytest.raises(InputError, match="'spot_checks' is not in the purposes register"):
        purpose_for_command("reconcile", reg)
    with pytest.raises(InputError):
        purpose_for_command("run", reg)


def test_check_recipient_allows_and_refuses(register):
    assert check_recipient("pbr_claim", "dfe", register).name == "Department for Education and their agencies"
    assert check_recipient("spot_checks", "internal_audit", register).source == "internal"
    with pytest.raises(InputError, match="'police'.*not allowed for purpose 'identification'"):
        check_recipient("identification", "police", register)
    with pytest.raises(InputError, match="not allowed"):
        check_recipient("identification", "dfe", register)
    with pytest.raises(InputError, match="not in the purposes register"):
        check_recipient("pbr_claim", "the_press", register)
    with pytest.raises(InputError, match="not in the purposes register"):
        check_recipient("marketing", "dfe", register)


def test_output_routes(register):
    assert output_route("claim_file.csv", ("pbr_claim",), register) == ("pbr_claim", "dfe")
    assert output_route("finance_summary.xlsx", ("pbr_claim",), register) == ("pbr_claim", "council_finance")
    # a single-purpose command writes everything under its own purpose
    assert output_route("eligibility.csv", ("pbr_claim",), register) == ("pbr_claim", "council_tf_team")
    # run/demo: the stage that writes the file
    assert output_route("outcomes.csv", TF_PURPOSES, register) == ("tracking", "council_tf_team")
    assert output_route("spot_check.xlsx", TF_PURPOSES, register) == ("spot_checks", "internal_audit")
    assert output_route("run_summary.json", TF_PURPOSES, register) == ("identification", "council_tf_team")
    # every route in the register is allowed for its purpose
    for name, route in register.outputs.items():
        check_recipient(route.purpose, route.recipient, register)


def test_unknown_key_in_the_register_is_an_error(tmp_path):
    path = write_variant(tmp_path, lambda raw: raw["purposes"][0].__setitem__("retention", "forever"))
    with pytest.raises(ConfigError, match=r"purposes\.0\.retention: Extra inputs are not permitted"):
        load_register(path)


def test_a_purpose_naming_an_unknown_recipient_is_an_error(tmp_path):
    path = write_variant(tmp_path, lambda raw: raw["purposes"][1]["recipients"].append("the_press"))
    with pytest.raises(ConfigError, match="purpose tracking: unknown recipient the_press"):
        load_register(path)


def test_an_output_routed_to_a_recipient_its_purpose_does_not_allow_is_an_error(tmp_path):
    path = write_variant(tmp_path, lambda raw: raw["outputs"]["eligibility"].__setitem__("recipient", "dfe"))
    with pytest.raises(ConfigError, match="output eligibility: recipient 'dfe' is not allowed"):
        load_register(path)


def test_every_command_purpose_is_in_the_shipped_register(register):
    ids = {p.id for p in register.purposes}
    for purposes in COMMAND_PURPOSES.values():
        assert set(purposes) <= ids


def test_notice_copy_is_the_seed_notice():
    seed = Path("/work/shared/seed/privacy-notice.txt")
    if not seed.exists():
        pytest.skip("the shared seed is not on this machine")
    assert re.sub(r"\s+", " ", NOTICE.read_text(encoding="utf-8")) == re.sub(
        r"\s+", " ", seed.read_text(encoding="utf-8")
    )
