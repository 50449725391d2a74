"""The link stage: give every event row a council ``person_id``, or send it to review. Never guess, never drop.

Order of passes (each only sees the rows the earlier ones left):

1. **clerical decisions** (``--link-decisions FILE``): a reviewer's ``person_id`` links the row
   (``clerical``); ``no_match`` (or blank) keeps it unmatched (``reviewed_no_match``);
2. **person_id** given: kept when it is in ``people``, else unmatched ``unknown_person_id``;
3. **exact identifiers** ``la_child_id`` (the council's own child id, which the children's social
   care returns name a child by), ``upn``, ``nhs_number``, ``ni_number`` against the same columns of
   ``people``, in that order: one person -> linked by the first identifier that found them; several
   different people -> unmatched ``ambiguous``; none -> on to the name passes;
4. **name_dob**: normalised last name + date of birth + a nickname-compatible first name
   (``tfclaims.link.names``) naming exactly one person;
5. **probabilistic**: Splink 5 (DuckDB), ``link_only`` between the remaining rows and ``people``,
   with a model trained off-line (``train_model``) and only predicted here. A row links when its
   best candidate reaches ``match_threshold`` and the runner-up is more than ``ambiguity_margin``
   below it; otherwise it is unmatched (``below_threshold``, ``ambiguous``, ``no_candidate``).

Rows with nothing to match on are unmatched ``no_person_reference``. ``housing`` rows that give a
``family_id`` and no person reference need no link (``family_only`` in the counts). For every
table: rows in = linked (by method) + family_only + unmatched.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandera import errors as pa_errors

from tfclaims.core.cohort import EVENT_TABLES, Cohort
from tfclaims.core.membership import is_in, is_in_each
from tfclaims.schemas.inputs import FAMILY_EVENT_TABLES
from tfclaims.core.config import LinkageSettings
from tfclaims.core import duck
from tfclaims.core.errors import InputError
from tfclaims.core.identifiers import normalise_ni_number, normalise_nhs_number, normalise_postcode
from tfclaims.link.names import first_name_keys, normalise_name
from tfclaims.core.resources import DATA_DIR
from tfclaims.schemas.link import DECISION_COLUMNS, LINK_METHODS, UNMATCHED_COLUMNS, LinkDecisions

IDENTIFIER_COLUMNS: tuple[str, ...] = ("la_child_id", "upn", "nhs_number", "ni_number")
NAME_COLUMNS: tuple[str, ...] = ("first_name", "last_name", "date_of_birth", "postcode")
NO_MATCH = "no_match"
COUNT_COLUMNS: tuple[str, ...] = ("rows", *LINK_METHODS, "family_only", "unmatched")

DEFAULT_MODEL_PATH = DATA_DIR / "link_model" / "splink_model.json"
MAX_CANDIDATES = 3
CANDIDATE_FLOOR = 0.001  # pairs scoring below this are not candidates worth showing a reviewer

# Candidate pairs for Splink (events x people). Each is an equi-join: small blocks, fast on a million people.
BLOCKING_RULES: tuple[str, ...] = (
    "l.dob = r.dob and substr(l.last_name, 1, 1) = substr(r.last_name, 1, 1)",
    "l.dob = r.dob and substr(l.first_name, 1, 1) = substr(r.first_name, 1, 1)",
    "l.dob_swapped = r.dob and substr(l.last_name, 1, 1) = substr(r.last_name, 1, 1)",
    "l.dob = r.dob_swapped and substr(l.last_name, 1, 1) = substr(r.last_name, 1, 1)",
    "l.last_name = r.last_name and substr(l.first_name, 1, 1) = substr(r.first_name, 1, 1) "
    "and substr(l.dob, 1, 4) = substr(r.dob, 1, 4)",
    "l.postcode = r.postcode and substr(l.first_name, 1, 2) = substr(r.first_name, 1, 2)",
    "l.postcode = r.postcode and l.last_name = r.last_name",
)

log = logging.getLogger(__name__)


@dataclass
class LinkResult:
    """The linked cohort, the rows sent to review, and the counts that reconcile them."""

    cohort: Cohort
    unmatched: pd.DataFrame  # UNMATCHED_COLUMNS
    counts: pd.DataFrame  # index: table; COUNT_COLUMNS

    def stage_counts(self) -> str:
        return f"{len(self.cohort.people):,} people, {len(self.unmatched):,} rows unmatched"


# ---------------------------------------------------------------------------------------------
# preparing names for matching


def _iso(dates: pd.Series) -> pd.Series:
    return dates.dt.strftime("%Y-%m-%d").astype("str")


def _swapped_iso(dates: pd.Series) -> pd.Series:
    """The date with day and month exchanged (only where that is a different, real date)."""
    ok = (dates.dt.day <= 12) & (dates.dt.day != dates.dt.month)
    year = dates.dt.year.astype("Int64").astype("str").str.zfill(4)
    day = dates.dt.day.astype("Int64").astype("str").str.zfill(2)
    month = dates.dt.month.astype("Int64").astype("str").str.zfill(2)
    return (year + "-" + day + "-" + month).where(ok).astype("str")


def matching_frame(df: pd.DataFrame, key: pd.Series) -> pd.DataFrame:
    """The columns the name passes and Splink compare, from a frame with first/last name, dob, postcode."""
    first = normalise_name(_col(df, "first_name"))
    dob = pd.to_datetime(_col(df, "date_of_birth"), errors="coerce").astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "link_key": key.to_numpy(),
            "first_name": first.to_numpy(),
            "first_name_keys": first_name_keys(first, already_normalised=True).to_numpy(),
            "last_name": normalise_name(_col(df, "last_name")).to_numpy(),
            "dob": _iso(dob).to_numpy(),
            "dob_swapped": _swapped_iso(dob).to_numpy(),
            "postcode": _col(df, "postcode").to_numpy(),
        }
    ).astype("str")


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return df[name]
    if name == "date_of_birth":
        return pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    return pd.Series(pd.NA, index=df.index, dtype="str")


# ---------------------------------------------------------------------------------------------
# the Splink model


def _comparisons() -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    first = cl.CustomComparison(
        output_column_name="first_name",
        comparison_levels=[
            cll.NullLevel("first_name"),
            cll.ExactMatchLevel("first_name", term_frequency_adjustments=True),
            cll.CustomLevel(
                "list_has_any(string_split(first_name_keys_l, '|'), string_split(first_name_keys_r, '|'))",
                label_for_charts="nickname",
            ),
            cll.JaroWinklerLevel("first_name", 0.9),
            cll.JaroWinklerLevel("first_name", 0.75),
            cll.ElseLevel(),
        ],
    )
    last = cl.CustomComparison(
        output_column_name="last_name",
        comparison_levels=[
            cll.NullLevel("last_name"),
            cll.ExactMatchLevel("last_name", term_frequency_adjustments=True),
            cll.JaroWinklerLevel("last_name", 0.92),
            cll.JaroWinklerLevel("last_name", 0.8),
            cll.ElseLevel(),
        ],
    )
    dob = cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel("dob_l = dob_swapped_r or dob_swapped_l = dob_r", label_for_charts="day/month swapped"),
            cll.DamerauLevenshteinLevel("dob", 1),
            cll.CustomLevel("substr(dob_l, 1, 4) = substr(dob_r, 1, 4)", label_for_charts="same year"),
            cll.ElseLevel(),
        ],
    )
    return [first, last, dob, cl.PostcodeComparison("postcode")]


def _settings(prior: float) -> Any:
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="link_key",
        probability_two_random_records_match=prior,
        blocking_rules_to_generate_predictions=list(BLOCKING_RULES),
        comparisons=_comparisons(),
        additional_columns_to_retain=["first_name_keys", "dob_swapped"],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def _quiet_splink() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.WARNING)


def train_model(people: pd.DataFrame, out: Path, seed: int, *, records: pd.DataFrame | None = None,
                sample_records: int = 50_000, u_max_pairs: float = 5e6, em_max_pairs: float = 1e6) -> Path:
    """Train the probabilistic model and save it as Splink JSON at ``out`` (an occasional, off-line step).

    ``records`` are event rows (first_name, last_name, date_of_birth, postcode) to train against
    ``people``; without them, up to ``sample_records`` people are copied with the errors of
    ``tfclaims.synth.unlinked.corrupt_identity`` (a stand-in for a real unlinked extract). u comes from
    random sampling (``u_max_pairs``), m from EM on blocked pairs sampled to ``em_max_pairs``;
    everything is seeded, so the same inputs give the same model.
    """
    from splink import DuckDBAPI, Linker, block_on

    from tfclaims.synth.unlinked import corrupt_identity
    from tfclaims.core.write import write_json

    _quiet_splink()
    rng = np.random.default_rng(seed)
    if records is None:
        sample = people.sample(min(sample_records, len(people)), random_state=seed)
        moved = people["postcode"].sample(len(sample), replace=True, random_state=seed + 1)
        records = corrupt_identity(sample, rng, moved_postcodes=moved)
    rec = matching_frame(records, pd.Series([f"R{i}" for i in range(len(records))]))
    ppl = matching_frame(people, people["person_id"].astype("str"))
    db = DuckDBAPI(connection=duck.connect())
    linker = Linker(
        [db.register(rec, dataset_display_name="events"), db.register(ppl, dataset_display_name="people")],
        _settings(prior=1.0 / max(len(people), 1)),
    )
    training = linker.training
    training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    training.estimate_parameters_using_expectation_maximisation(block_on("dob"), max_pairs=em_max_pairs)
    training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "last_name"), max_pairs=em_max_pairs
    )
    model = linker.misc.save_model_to_json(None)
    model.pop("linker_uid", None)  # random per linker: the same inputs and seed must give the same file
    return write_json(model, Path(out))


def _load_model(path: Path, n_people: int) -> dict[str, Any]:
    try:
        model = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the link model: {exc}") from exc
    model["link_type"] = "link_only"
    model["unique_id_column_name"] = "link_key"
    model["blocking_rules_to_generate_predictions"] = [{"blocking_rule": r} for r in BLOCKING_RULES]
    # link_only: each event row has at most one true match among the people
    model["probability_two_random_records_match"] = 1.0 / max(n_people, 1)
    model["retain_matching_columns"] = False
    model["retain_intermediate_calculation_columns"] = False
    return model


def _score_pairs(events: pd.DataFrame, people: pd.DataFrame, model_path: Path) -> pd.DataFrame:
    """Splink candidates ``link_key`` (event) x ``person_id`` with ``match_probability`` >= CANDIDATE_FLOOR."""
    from splink import DuckDBAPI, Linker

    _quiet_splink()
    db = DuckDBAPI(connection=duck.connect())
    linker = Linker(
        [db.register(events, dataset_display_name="events"), db.register(people, dataset_display_name="people")],
        _load_model(model_path, len(people)),
    )
    pairs = linker.inference.predict(threshold_match_probability=CANDIDATE_FLOOR, warning_mode="never")
    sql = f"""
        select case when source_dataset_l = 'events' then link_key_l else link_key_r end as link_key,
               case when source_dataset_l = 'events' then link_key_r else link_key_l end as person_id,
               match_probability
        from {pairs.physical_name}
    """
    out = linker.misc.query_sql(sql, output_type="pandas")
    return out.astype({"link_key": "str", "person_id": "str", "match_probability": "float64"})


# ---------------------------------------------------------------------------------------------
# clerical decisions


def read_link_decisions(path: Path | str) -> pd.DataFrame:
    """Read a ``--link-decisions`` CSV as text, with ``decision_row`` (its row number, header = 1)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype="str", keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the link decisions: {exc}") from exc
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in DECISION_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: link decisions need the columns {', '.join(DECISION_COLUMNS)}; missing {', '.join(missing)}")
    df = df[list(DECISION_COLUMNS)].apply(lambda s: s.str.strip()).replace("", pd.NA).astype("str")
    df["decision_row"] = pd.array(np.arange(2, len(df) + 2), dtype="Int64")
    df.attrs["source"] = str(path)
    return df


def _decision_keys(decisions: pd.DataFrame) -> pd.DataFrame:
    where = decisions.attrs.get("source", "link decisions")
    d = decisions.copy()
    for col in DECISION_COLUMNS:
        if col not in d.columns:
            raise InputError(f"{where}: link decisions need the column {col!r}")
    if "decision_row" not in d.columns:
        d["decision_row"] = pd.array(np.arange(2, len(d) + 2), dtype="Int64")
    text = {c: d[c].astype("str").str.strip().replace("", pd.NA) for c in ("table", "file", "sheet", "person_id")}
    for c, s in text.items():
        d[c] = s
    d["table"] = d["table"].str.lower()
    row = pd.to_numeric(d["row"].astype("str").str.strip(), errors="coerce")
    bad = row.isna() | (row % 1 != 0) | (row < 1)
    if bad.any():
        first = d.loc[bad].iloc[0]
        raise InputError(f"{where} row {first['decision_row']}: 'row' must be a row number, got {first['row']!r}")
    d["row"] = row.astype("Int64")
    no_file = d["file"].isna()
    if no_file.any():
        first = d.loc[no_file].iloc[0]
        raise InputError(f"{where} row {first['decision_row']}: 'file' is blank (the file named in unmatched.csv)")
    d["no_match"] = d["person_id"].isna() | (d["person_id"].str.lower() == NO_MATCH)
    d["person_id"] = d["person_id"].mask(d["no_match"])
    dup = d.duplicated(["table", "file", "sheet", "row"], keep="first")
    if dup.any():
        first = d.loc[dup].iloc[0]
        raise InputError(
            f"{where} row {first['decision_row']}: a second decision for {first['table']} {first['file']} row {first['row']}"
        )
    unknown_table = ~d["table"].isin(EVENT_TABLES)
    if unknown_table.any():
        first = d.loc[unknown_table].iloc[0]
        raise InputError(f"{where} row {first['decision_row']}: {first['table']!r} is not an event table")
    try:  # a guard on the typed decisions: every rule above already named its row
        LinkDecisions.validate(d)
    except (pa_errors.SchemaError, pa_errors.SchemaErrors) as exc:
        raise InputError(f"{where}: link decisions do not follow their schema: {exc}") from exc
    return d


def _apply_decisions(rows: pd.DataFrame, d: pd.DataFrame, people_ids: pd.Index, where: str) -> None:
    """Mark rows decided by a reviewer (in place on the work frame ``rows``); ``d`` from ``_decision_keys``."""
    keys = rows[["table", "source_file", "source_sheet", "source_row"]].reset_index(names="_i")
    keys["source_sheet"] = keys["source_sheet"].fillna("")
    hit = d.assign(sheet=d["sheet"].fillna("")).merge(
        keys, left_on=["table", "file", "sheet", "row"], right_on=["table", "source_file", "source_sheet", "source_row"],
        how="left",
    )
    absent = hit["_i"].isna()
    if absent.any():
        first = hit.loc[absent].iloc[0]
        sheet = f" sheet {first['sheet']}" if first["sheet"] else ""
        raise InputError(
            f"{where} row {first['decision_row']}: no row {first['row']} in {first['table']} file {first['file']}{sheet}"
        )
    unknown = ~hit["no_match"] & ~is_in(hit["person_id"], people_ids)
    if unknown.any():
        first = hit.loc[unknown].iloc[0]
        raise InputError(f"{where} row {first['decision_row']}: person_id {first['person_id']!r} is not in people")
    idx = hit["_i"].astype(int).to_numpy()
    linked = ~hit["no_match"].to_numpy()
    _link(rows, idx[linked], hit.loc[linked, "person_id"].to_numpy(), "clerical")
    rows.loc[idx[~linked], "reason"] = "reviewed_no_match"


# ---------------------------------------------------------------------------------------------
# the passes


def _known_person_rows(cohort: Cohort, people_ids: pd.Index, decided: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """Per event table, a mask of the rows the work frame would link by ``person_id`` as they stand.

    A row qualifies when its ``person_id`` is one of the people's ids exactly as written (already
    stripped, not blank), so the work frame's clean-up could not change it. Rows a reviewer's
    decision may name (same table and source row) are left to the work frame, where decisions come
    first. Everything else (no person_id, an unknown one, one with stray spaces) goes through the passes.
    """
    ids = people_ids[people_ids.notna()]
    ids = ids[np.asarray((ids == ids.str.strip()) & (ids != ""), dtype=bool)]
    tables = {name: t for name in EVENT_TABLES if (t := cohort.get(name)) is not None and "person_id" in t.columns and not t.empty}
    known = is_in_each({name: t["person_id"] for name, t in tables.items()}, ids)  # one lookup table for every event table
    for name, t in tables.items():
        if decided is not None:
            named = decided.loc[decided["table"] == name, "row"]
            if len(named):
                source_row = pd.to_numeric(_col(t, "source_row"), errors="coerce")
                known[name] &= ~source_row.isin(named.dropna().astype("int64")).to_numpy(dtype=bool)
    return known


def _work_frame(cohort: Cohort, known: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Every event row of every supplied event table, with its person reference, in one frame;
    without the rows ``known`` marks (already linked by person_id). ``pos`` is the row's position in its table."""
    parts = []
    keep = ["person_id", *IDENTIFIER_COLUMNS, *NAME_COLUMNS, "family_id", "source_file", "source_sheet", "source_row"]
    known = known or {}
    for name in EVENT_TABLES:
        t = cohort.get(name)
        if t is None:
            continue
        if name in known:
            pos = np.flatnonzero(~known[name])
            t = t[[c for c in keep if c in t.columns]].iloc[pos]
        else:
            pos = np.arange(len(t))
        part = pd.DataFrame({c: _col(t, c).to_numpy() for c in keep})
        part.insert(0, "table", name)
        part.insert(1, "pos", pos)
        parts.append(part)
    if not parts:  # no event table (a people-only cohort): no rows, but every column the passes read
        parts.append(pd.DataFrame({"table": pd.Series(dtype="str"), "pos": pd.Series(dtype="int64"),
                                   **{c: pd.Series(dtype="str") for c in keep}}))
    rows = pd.concat(parts, ignore_index=True)
    for c in ("table", "person_id", *IDENTIFIER_COLUMNS, "first_name", "last_name", "postcode", "family_id",
              "source_file", "source_sheet"):
        rows[c] = rows[c].astype("str").str.strip().replace("", pd.NA).astype("str")
    rows["date_of_birth"] = pd.to_datetime(rows["date_of_birth"], errors="coerce").astype("datetime64[ns]")
    rows["source_row"] = pd.to_numeric(rows["source_row"], errors="coerce").astype("Int64")
    # defensive: ingest already normalises these, but a hand-built frame may not
    rows["upn"] = rows["upn"].str.upper()
    rows["nhs_number"] = normalise_nhs_number(rows["nhs_number"])
    rows["ni_number"] = normalise_ni_number(rows["ni_number"])
    rows["postcode"] = normalise_postcode(rows["postcode"])
    rows["resolved"] = pd.Series(pd.NA, index=rows.index, dtype="str")
    rows["method"] = pd.Series(pd.NA, index=rows.index, dtype="str")
    rows["probability"] = pd.Series(pd.NA, index=rows.index, dtype="Float64")
    rows["reason"] = pd.Series(pd.NA, index=rows.index, dtype="str")
    rows["candidates"] = pd.Series(pd.NA, index=rows.index, dtype="str")
    rows["family_only"] = False
    return rows


def _pending(rows: pd.DataFrame) -> pd.Series:
    return rows["resolved"].isna() & rows["reason"].isna() & ~rows["family_only"]


def _link(rows: pd.DataFrame, idx: np.ndarray | pd.Index, person_ids: Any, method: str | Any,
          probability: float | Any = 1.0) -> None:
    rows.loc[idx, "resolved"] = person_ids
    rows.loc[idx, "method"] = method
    rows.loc[idx, "probability"] = probability


def _person_id_pass(rows: pd.DataFrame, people_ids: pd.Index) -> None:
    given = _pending(rows) & rows["person_id"].notna()
    known = given & is_in(rows["person_id"], people_ids)
    _link(rows, rows.index[known], rows.loc[known, "person_id"], "person_id")
    rows.loc[given & ~known, "reason"] = "unknown_person_id"


def _family_pass(rows: pd.DataFrame) -> None:
    no_reference = rows[["person_id", *IDENTIFIER_COLUMNS, "first_name", "last_name", "date_of_birth"]].isna().all(axis=1)
    rows.loc[_pending(rows) & rows["table"].isin(FAMILY_EVENT_TABLES) & rows["family_id"].notna() & no_reference, "family_only"] = True


def _identifier_pass(rows: pd.DataFrame, people: pd.DataFrame) -> None:
    pending = _pending(rows)
    found = []
    for rank, col in enumerate(IDENTIFIER_COLUMNS):
        if col not in people.columns:
            continue
        ev = rows.loc[pending & rows[col].notna(), [col]].reset_index(names="_i")
        pp = people.loc[people[col].notna(), ["person_id", col]]
        m = ev.merge(pp, on=col)[["_i", "person_id"]]
        m["rank"] = rank
        found.append(m)
    if not found:
        return
    hits = pd.concat(found, ignore_index=True).sort_values(["_i", "rank"])
    n_people = hits.groupby("_i")["person_id"].nunique()
    one = n_people.index[n_people == 1]
    first = hits.drop_duplicates("_i").set_index("_i")
    _link(rows, one, first.loc[one, "person_id"].to_numpy(),
          np.array(IDENTIFIER_COLUMNS)[first.loc[one, "rank"].to_numpy()])
    many = n_people.index[n_people > 1]
    if len(many):
        conflict = hits[hits["_i"].isin(many)].drop_duplicates(["_i", "person_id"])
        conflict = conflict.assign(label=conflict["person_id"] + " (" + np.array(IDENTIFIER_COLUMNS)[conflict["rank"]] + ")")
        rows.loc[many, "reason"] = "ambiguous"
        rows.loc[many, "candidates"] = conflict.groupby("_i")["label"].agg("; ".join).reindex(many).to_numpy()


def _district(postcode: pd.Series) -> pd.Series:
    """The outward code of a normalised postcode (``SW1A 1AA`` -> ``SW1A``)."""
    return postcode.str.replace(r" .*$", "", regex=True)  # (split().str[0] breaks on an all-missing column)


def _name_dob_pass(rows: pd.DataFrame, ev: pd.DataFrame, pp: pd.DataFrame) -> None:
    """Exact normalised last name + dob + nickname-compatible first name naming exactly one person,
    whose postcode district does not contradict the row's (a row without a postcode does not contradict).

    A contradicting postcode is left to the probabilistic pass: a mistyped date of birth can make the
    row name-and-dob-identical to someone else elsewhere, while the true person shares its address.
    """
    cols = ["link_key", "first_name_keys", "last_name", "dob", "postcode"]
    e = ev.loc[ev["first_name_keys"].notna() & ev["last_name"].notna() & ev["dob"].notna(), cols]
    e = e.assign(key=e["first_name_keys"].str.split("|")).explode("key").drop(columns="first_name_keys")
    p = pp.loc[pp["first_name_keys"].notna() & pp["last_name"].notna() & pp["dob"].notna(), cols]
    p = p.assign(key=p["first_name_keys"].str.split("|")).explode("key").drop(columns="first_name_keys")
    m = e.merge(p.rename(columns={"link_key": "person_id"}), on=["key", "last_name", "dob"], suffixes=("", "_person"))
    n = m.groupby("link_key")["person_id"].nunique()
    one = m[m["link_key"].isin(n.index[n == 1])].drop_duplicates("link_key")
    ours, theirs = one["postcode"].astype("str"), one["postcode_person"].astype("str")
    agrees = ours.isna() | (_district(ours) == _district(theirs)).fillna(False)
    one = one[agrees.to_numpy(dtype=bool)]
    _link(rows, one["link_key"].astype(int).to_numpy(), one["person_id"].to_numpy(), "name_dob")


def _fmt(p: pd.Series) -> pd.Series:
    """Probabilities for a reviewer: floored to 4 places so 0.99996 never reads as a certain 1.0000."""
    return (np.floor(p * 10_000) / 10_000).map("{:.4f}".format)


def _probabilistic_pass(rows: pd.DataFrame, ev: pd.DataFrame, pp: pd.DataFrame, settings: LinkageSettings) -> None:
    """Score the rows of ``ev`` (index = work-frame rows, all still pending) with Splink and decide each."""
    model = Path(settings.model_path) if settings.model_path else DEFAULT_MODEL_PATH
    scores = _score_pairs(ev, pp, model)
    scores = scores.sort_values(["link_key", "match_probability", "person_id"], ascending=[True, False, True])
    scores["rank"] = scores.groupby("link_key").cumcount()
    best = scores[scores["rank"] == 0].set_index("link_key")
    second = scores[scores["rank"] == 1].set_index("link_key")["match_probability"]
    best["runner_up"] = second.reindex(best.index).fillna(0.0)
    accept = (best["match_probability"] >= settings.match_threshold) & (
        best["match_probability"] - best["runner_up"] > settings.ambiguity_margin
    )
    close = (best["match_probability"] >= settings.match_threshold) & ~accept
    linked = best[accept]
    _link(rows, linked.index.astype(int), linked["person_id"].to_numpy(), "probabilistic",
          linked["match_probability"].to_numpy())
    shown = scores[scores["rank"] < MAX_CANDIDATES]
    labels = (shown["person_id"] + " (" + _fmt(shown["match_probability"]) + ")").groupby(shown["link_key"]).agg("; ".join)
    ambiguous = best.index[close].astype(int)
    below = best.index[~accept & ~close].astype(int)
    rows.loc[ambiguous, "reason"] = "ambiguous"
    rows.loc[below, "reason"] = "below_threshold"
    rows.loc[ambiguous, "candidates"] = labels.reindex(best.index[close]).to_numpy()
    rows.loc[below, "candidates"] = labels.reindex(best.index[~accept & ~close]).to_numpy()
    rest = np.setdiff1d(ev.index.to_numpy(), best.index.astype(int).to_numpy())
    rows.loc[rest, "reason"] = "no_candidate"


# ---------------------------------------------------------------------------------------------
# the stage


def link(cohort: Cohort, settings: LinkageSettings | None = None, decisions: pd.DataFrame | None = None,
         *, _fast_path: bool = True) -> LinkResult:
    """Resolve every event row to a person_id, or move it to ``unmatched`` with a reason.

    Rows whose person_id is already one of the people's are linked straight away, a table at a
    time (``_known_person_rows``); only the rest enter the work frame and its passes. The result is
    the same as putting every row through the passes (``_fast_path=False``, kept for the tests).
    """
    settings = settings or LinkageSettings()
    people = cohort.people
    people_ids = pd.Index(people["person_id"].astype("str"))
    decided = _decision_keys(decisions) if decisions is not None and len(decisions) else None
    where = decisions.attrs.get("source", "link decisions") if decisions is not None else ""
    known = _known_person_rows(cohort, people_ids, decided) if _fast_path else {}
    rows = _work_frame(cohort, known)

    if decided is not None:
        _apply_decisions(rows, decided, people_ids, where)
    _person_id_pass(rows, people_ids)
    _family_pass(rows)
    _identifier_pass(rows, people)

    has_names = rows[["first_name", "last_name", "date_of_birth"]].notna().any(axis=1)
    has_ids = rows[list(IDENTIFIER_COLUMNS)].notna().any(axis=1)
    rows.loc[_pending(rows) & ~has_names & has_ids, "reason"] = "no_candidate"  # identifiers nobody has
    rows.loc[_pending(rows) & ~has_names, "reason"] = "no_person_reference"
    pending = _pending(rows)
    if pending.any():
        ev = matching_frame(rows.loc[pending], pd.Series(rows.index[pending].astype(str)))
        ev.index = rows.index[pending]
        pp = matching_frame(people, people["person_id"].astype("str"))
        _name_dob_pass(rows, ev, pp)
        still = _pending(rows).loc[ev.index].to_numpy()
        if still.any():  # Splink is imported in here only: a run with nothing left to score never loads it
            _probabilistic_pass(rows, ev[still], pp, settings)
    leftover = _pending(rows)
    if leftover.any():  # cannot happen: every pass either resolves a row or gives a reason
        rows.loc[leftover, "reason"] = "no_candidate"
    return _result(cohort, rows, known)


def _text_of_codes(codes: np.ndarray, labels: tuple[str, ...]) -> Any:
    """A ``str`` array of ``labels[code]`` (code -1 = missing), built in Arrow without Python strings."""
    indices = pa.array(codes.astype(np.int8), mask=codes < 0)
    return pd.array(pa.DictionaryArray.from_arrays(indices, pa.array(labels)).cast(pa.large_string()), dtype="str")


def _result(cohort: Cohort, rows: pd.DataFrame, known: dict[str, np.ndarray] | None = None) -> LinkResult:
    """Each table's linked rows in their order (with person_id, link_method, link_probability), the
    unmatched rows and the counts. ``known``: the rows linked by person_id before the work frame."""
    known = known or {}
    methods = tuple(LINK_METHODS)
    tables: dict[str, pd.DataFrame] = {}
    counts = []
    for name in EVENT_TABLES:
        t = cohort.get(name)
        if t is None:
            continue
        r = rows[rows["table"] == name]
        kept = r[(r["resolved"].notna() | r["family_only"]).to_numpy(dtype=bool)]
        kept_pos = kept["pos"].to_numpy(dtype=np.int64)
        by_person_id = known.get(name, np.zeros(len(t), dtype=bool))
        keep = by_person_id.copy()
        keep[kept_pos] = True
        if keep.all():
            out = t.copy(deep=False)  # copy-on-write: the columns set below never reach the caller's table
            at = kept_pos
        else:
            keep_at = np.flatnonzero(keep)
            out = t.iloc[keep_at]
            at = np.searchsorted(keep_at, kept_pos)  # where the kept work-frame rows sit in out
        person = _col(out, "person_id").astype("str")  # a row known by person_id keeps its own, as written
        if len(at):
            person = person.copy()
            person.iloc[at] = pd.array(kept["resolved"].to_numpy(), dtype="str")
        method_codes = np.zeros(len(out), dtype=np.int8)  # 0 = person_id
        method_codes[at] = pd.Categorical(kept["method"], categories=methods).codes
        probability = np.ones(len(out))
        missing = np.zeros(len(out), dtype=bool)
        kept_probability = kept["probability"].astype("Float64").array
        probability[at] = kept_probability.to_numpy(dtype="float64", na_value=np.nan)
        missing[at] = kept_probability.isna()
        out["person_id"] = person.array
        out["link_method"] = _text_of_codes(method_codes, methods)
        out["link_probability"] = pd.arrays.FloatingArray(probability, missing)
        tables[name] = out.reset_index(drop=True)
        by_method = kept["method"].value_counts()
        counts.append({
            "table": name, "rows": len(t),
            **{m: int(by_method.get(m, 0)) for m in LINK_METHODS},
            "family_only": int(r["family_only"].sum()),
            "unmatched": int((~keep).sum()),
        })
        counts[-1]["person_id"] += int(by_person_id.sum())
    unmatched_rows = rows[rows["resolved"].isna() & ~rows["family_only"]]
    unmatched = pd.DataFrame({
        "table": unmatched_rows["table"].astype("str"),
        "file": unmatched_rows["source_file"].astype("str"),
        "sheet": unmatched_rows["source_sheet"].astype("str"),
        "row": unmatched_rows["source_row"].astype("Int64"),
        "reason": unmatched_rows["reason"].astype("str"),
        "candidates": unmatched_rows["candidates"].astype("str"),
    }).reset_index(drop=True)[list(UNMATCHED_COLUMNS)]
    count_frame = pd.DataFrame(counts, columns=["table", *COUNT_COLUMNS]).set_index("table")
    bad = count_frame["rows"] != count_frame[list(COUNT_COLUMNS[1:])].sum(axis=1)
    if bad.any():  # a bug, never a data problem
        raise AssertionError(f"link counts do not reconcile for {', '.join(count_frame.index[bad])}")
    return LinkResult(cohort=cohort.with_tables(tables), unmatched=unmatched, counts=count_frame)
