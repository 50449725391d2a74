"""The SSDA903 looked-after children return (CSV files, one per table and year) as ``lac`` spells of ``social_care``.

A 903 table is recognised by its columns, never by its file name. The episodes of every year are
stacked (the latest year's version of an episode wins), short breaks are left out unless the council
asks for them, and the episodes of one period of care are chained into one spell: a period starts
at reason for new episode ``S``; an episode ending ``X1`` continues into the next, which starts the
same day. The header table gives each child's date of birth and UPN.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tfclaims.core.errors import InputError
from tfclaims.core.identifiers import upn_valid
from tfclaims.ingest.readers import RawPart, looks_utf16
from tfclaims.ingest.returns import FINDING_COLUMNS, LEFT_OUT_COLUMNS, FileCoverage, ReturnOptions, ReturnRows, record_frame

__all__ = ["SSDA903_SOURCE", "read_ssda903", "ssda903_table"]

SSDA903_SOURCE = "SSDA903"
# Each 903 table by the columns it must have (the order of the published specification).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "header": ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"),
    "episodes": ("CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC", "REASON_PLACE_CHANGE",
                 "HOME_POST", "PL_POST", "URN"),
    "reviews": ("CHILD", "DOB", "REVIEW", "REVIEW_CODE"),
    "uasc": ("CHILD", "SEX", "DOB", "DUC"),
    "oc2": ("CHILD", "DOB", "SDQ_SCORE", "SDQ_REASON", "CONVICTED", "HEALTH_CHECK", "IMMUNISATIONS", "TEETH_CHECK",
            "HEALTH_ASSESSMENT", "SUBSTANCE_MISUSE", "INTERVENTION_RECEIVED", "INTERVENTION_OFFERED"),
    "oc3": ("CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"),
    "ad1": ("CHILD", "DOB", "DATE_INT", "DATE_MATCH", "FOSTER_CARE", "NB_ADOPTR", "SEX_ADOPTR", "LS_ADOPTR"),
    "placed_adoption": ("CHILD", "DOB", "DATE_PLACED", "DATE_PLACED_CEASED", "REASON_PLACED_CEASED"),
    "prev_perm": ("CHILD", "DOB", "PREV_PERM", "LA_PERM", "DATE_PERM"),
    "missing": ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"),
    "sw_episodes": ("CHILD", "SW_ID", "SW_DECOM", "SW_DEC", "SW_REASON"),
}
_YEAR_RE = re.compile(r"(?<!\d)(20\d\d)(?!\d)")
_UK_DATE_RE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
_PLACEHOLDER_UPNS = {f"UN{i}" for i in range(1, 6)}
_SHORT_BREAKS = {"V3", "V4"}


def _header_names(path: Path) -> list[str] | None:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if looks_utf16(head):
        raise InputError(f"{path.name}: the file is UTF-16 text (Excel's 'Unicode Text'), not UTF-8: save it as 'CSV UTF-8 (Comma delimited)'")
    try:
        first = head.decode("utf-8-sig", errors="strict").splitlines()[0] if head.strip() else ""
    except (UnicodeDecodeError, IndexError):
        return None
    return [c.strip().strip('"').upper() for c in first.split(",")]


def ssda903_table(path: Path) -> str | None:
    """The 903 table a CSV file is, by its header (``header``, ``episodes``, ``reviews``, ...), or None."""
    names = _header_names(path)
    if not names:
        return None
    present = set(names)
    fits = [(len(cols), t) for t, cols in TABLE_COLUMNS.items() if set(cols) <= present]
    return max(fits)[1] if fits else None


def _iso(text: str) -> tuple[str, dt.date | None]:
    """A 903 date (dd/mm/yyyy, or ISO) as ISO text and a date; a value that is not one stays as written."""
    t = (text or "").strip()
    if not t:
        return "", None
    m = _UK_DATE_RE.match(t)
    try:
        d = dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1))) if m else dt.date.fromisoformat(t)
    except ValueError:
        return t, None
    return d.isoformat(), d


@dataclass
class _Table:
    path: Path
    kind: str
    year: int
    frame: pd.DataFrame  # the file's columns as text, plus "line"
    year_inferred: bool = False


def _read(path: Path, kind: str, options: ReturnOptions) -> pd.DataFrame:
    size = path.stat().st_size
    if size > options.max_return_bytes:
        raise InputError(f"{path.name}: {size:,} bytes is more than a return may be (reader_limits.max_return_bytes "
                         f"{options.max_return_bytes:,}): not read")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skip_blank_lines=False)
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"{path.name}: cannot be read as CSV UTF-8 ({type(exc).__name__})") from None
    frame.columns = [str(c).strip().upper() for c in frame.columns]
    frame["line"] = range(2, len(frame) + 2)
    blank = (frame.drop(columns="line").apply(lambda c: c.str.strip()) == "").all(axis=1)
    frame = frame[~blank].reset_index(drop=True)
    frame["CHILD"] = frame["CHILD"].str.strip().str.removesuffix(".0")
    return frame


def _year_of(path: Path, frame: pd.DataFrame, kind: str) -> tuple[int | None, bool]:
    m = _YEAR_RE.findall(path.stem)
    if m:
        return int(m[-1]), False
    if kind != "episodes":
        return None, False
    dates = [d for c in ("DECOM", "DEC") for d in (_iso(v)[1] for v in frame[c]) if d is not None]
    if not dates:
        raise InputError(f"{path.name}: no collection year in the file name and no date in the file: name it with its year (e.g. SSDA903_2025_episodes.csv)")
    latest = max(dates)
    return latest.year + (1 if latest > dt.date(latest.year, 3, 31) else 0), True


def _left(file: str, element: str, line: int, child: str, reason: str) -> dict[str, Any]:
    return {"source": SSDA903_SOURCE, "file": file, "element": element, "line": line, "child": child or None, "reason": reason}


def _left_rows(rows: pd.DataFrame, element: str, reason: str) -> list[dict[str, Any]]:
    """A left-out record for each of ``rows`` (stacked 903 rows: ``_file``, ``line``, ``CHILD``), with one reason."""
    return [_left(f, element, int(line), c, reason) for f, line, c in zip(rows["_file"], rows["line"], rows["CHILD"], strict=True)]


def _finding(file: str, element: str, line: int | None, child: str, value: str, problem: str) -> dict[str, Any]:
    return {"source": SSDA903_SOURCE, "file": file, "element": element, "line": line, "child": child or None,
            "value": value or None, "problem": problem}


def _tables(paths: list[Path], options: ReturnOptions) -> tuple[list[_Table], list[dict[str, Any]]]:
    tables, findings = [], []
    for path in paths:
        kind = ssda903_table(path)
        assert kind in ("header", "episodes"), path
        frame = _read(path, kind, options)
        year, inferred = _year_of(path, frame, kind)
        tables.append(_Table(path, kind, year or 0, frame, inferred))
        if inferred:
            findings.append(_finding(path.name, "Episodes", None, "", str(year), "no collection year in the file name: "
                                     f"{year} taken from the latest date in the file"))
    episodes = [t for t in tables if t.kind == "episodes"]
    for t in tables:
        if t.kind == "header" and not t.year:
            if len(episodes) != 1:
                raise InputError(f"{t.path.name}: no collection year in the file name: name it with its year (e.g. SSDA903_2025_header.csv)")
            t.year = episodes[0].year
    for kind in ("header", "episodes"):
        seen: dict[int, str] = {}
        for t in tables:
            if t.kind == kind:
                if t.year in seen:
                    raise InputError(f"{seen[t.year]} and {t.path.name} are both the SSDA903 {kind} table for collection year {t.year}: keep one")
                seen[t.year] = t.path.name
    return tables, findings


def _stacked(tables: list[_Table], kind: str, key: list[str]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Every row of the ``kind`` tables, the latest year's version of each key kept; the others left out."""
    frames = [t.frame.assign(_file=t.path.name, _year=t.year) for t in tables if t.kind == kind]
    if not frames:
        return pd.DataFrame(columns=[*TABLE_COLUMNS[kind], "line", "_file", "_year"]), []
    rows = pd.concat(frames, ignore_index=True)
    rows = rows.sort_values(["_year", "_file", "line"], ascending=[False, True, True], kind="stable")
    dup = rows.duplicated(key, keep="first")
    winner = rows[~dup].set_index(key)[["_year", "_file"]]
    left = []
    for _, r in rows[dup].iterrows():
        w = winner.loc[tuple(r[k] for k in key)] if len(key) > 1 else winner.loc[r[key[0]]]
        left.append(_left(r["_file"], kind.capitalize(), int(r["line"]), r["CHILD"], f"superseded by the {w['_year']} return ({w['_file']})"))
    return rows[~dup].reset_index(drop=True), left


def _spells(episodes: pd.DataFrame) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Episodes chained into periods of care: the spells (with their first episode's lineage), findings, episodes used."""
    spells: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    used = 0
    episodes = episodes.assign(_start=[_iso(v)[1] for v in episodes["DECOM"]], _end=[_iso(v)[1] for v in episodes["DEC"]])
    undated = episodes["_start"].isna()
    for _, e in episodes[undated].iterrows():  # cannot be ordered: a spell of its own, which ingest quarantines
        findings.append(_finding(e["_file"], "Episodes", int(e["line"]), e["CHILD"], e["DECOM"], "DECOM is not a date: the episode is a spell of its own"))
        spells.append({"first": e, "start": _iso(e["DECOM"])[0], "end": _iso(e["DEC"])[0]})
        used += 1
    dated = episodes[~undated].sort_values(["CHILD", "_start", "_year"], kind="stable")
    for child, group in dated.groupby("CHILD", sort=True):
        current: dict[str, Any] | None = None
        prev: Any = None
        for _, e in group.iterrows():
            used += 1
            unclosed = prev is not None and pd.isna(prev["_end"])
            if unclosed:  # an episode left open with a later one: ended where the next starts (and, unless S, continued)
                findings.append(_finding(prev["_file"], "Episodes", int(prev["line"]), child, "",
                                         f"no DEC but a later episode starts {e['_start'].isoformat()}: ended there"))
                prev_end = e["_start"]
                current["end"] = prev_end.isoformat()  # type: ignore[index]
            else:
                prev_end = prev["_end"] if prev is not None else None
            continues = (prev is not None and e["RNE"].strip().upper() != "S"
                         and (unclosed or (prev["REC"].strip().upper() == "X1" and prev_end == e["_start"])))
            if prev is not None and e["RNE"].strip().upper() != "S" and not continues:
                why = ("the previous episode ended X1 on another day" if prev["REC"].strip().upper() == "X1"
                       else "the previous episode did not end X1")
                findings.append(_finding(e["_file"], "Episodes", int(e["line"]), child, e["RNE"], f"not a new period (RNE {e['RNE']}) but {why}: a new spell starts here"))
            if prev is not None and prev_end is not None and e["_start"] < prev_end:
                findings.append(_finding(e["_file"], "Episodes", int(e["line"]), child, e["DECOM"], "starts before the previous episode ended"))
            if continues and current is not None:
                current["end"], current["last"] = _iso(e["DEC"])[0], e
            else:
                current = {"first": e, "last": e, "start": e["_start"].isoformat(), "end": _iso(e["DEC"])[0]}
                spells.append(current)
            prev = e
    latest = int(episodes["_year"].max()) if len(episodes) else 0
    for spell in spells:  # open at a year's end but in no later return: the child left care by then
        last = spell.get("last")
        if last is not None and not spell["end"] and int(last["_year"]) < latest:
            end = dt.date(int(last["_year"]), 3, 31).isoformat()
            spell["end"] = end
            findings.append(_finding(last["_file"], "Episodes", int(last["line"]), last["CHILD"], "",
                                     f"open at this return's end but not in a later return: closed at {end}"))
    return spells, findings, used


def read_ssda903(paths: list[Path], options: ReturnOptions) -> ReturnRows:
    """The SSDA903 header and episodes files of a cohort folder, all years together, as ``lac`` spells."""
    tables, findings = _tables(paths, options)
    episodes, left = _stacked(tables, "episodes", ["CHILD", "DECOM"])
    headers, left_h = _stacked(tables, "header", ["CHILD"])
    left += left_h
    no_child = episodes["CHILD"] == ""
    left += _left_rows(episodes[no_child], "Episodes", "no CHILD id: the child cannot be linked")
    episodes = episodes[~no_child]
    short = episodes["LS"].str.strip().str.upper().isin(_SHORT_BREAKS)
    if not options.include_903_short_breaks:
        left += _left_rows(episodes[short], "Episodes", "short-break respite (legal status V3/V4)")
        episodes = episodes[~short]
    spells, spell_findings, used = _spells(episodes.reset_index(drop=True))
    findings += spell_findings
    children = {s["first"]["CHILD"] for s in spells}
    person: dict[str, dict[str, str]] = {}
    upns = headers["UPN"].str.strip().str.upper()
    valid = set(upns[upn_valid(upns).to_numpy(dtype=bool)])  # one vectorised check for every header row
    for _, h in headers.iterrows():
        if h["CHILD"] not in children:
            left.append(_left(h["_file"], "Header", int(h["line"]), h["CHILD"], "no episode of this child in the returns"))
            continue
        used += 1
        upn = h["UPN"].strip().upper()
        if upn in _PLACEHOLDER_UPNS:
            upn = ""
        elif upn and upn not in valid:
            findings.append(_finding(h["_file"], "Header", int(h["line"]), h["CHILD"], upn, "UPN fails the check letter: not used for linking"))
            upn = ""
        person[h["CHILD"]] = {"upn": upn, "date_of_birth": _iso(h["DOB"])[0]}
    by_file: dict[str, list[dict[str, Any]]] = {}
    for s in spells:
        e = s["first"]
        p = person.get(e["CHILD"], {"upn": "", "date_of_birth": ""})
        by_file.setdefault(e["_file"], []).append({
            "la_child_id": e["CHILD"], "upn": p["upn"], "date_of_birth": p["date_of_birth"], "episode_type": "lac",
            "start_date": s["start"], "end_date": s["end"], "line": int(e["line"]),
        })
    parts = []
    for file in sorted(by_file):
        rows = sorted(by_file[file], key=lambda r: r["line"])
        frame = pd.DataFrame({c: pd.array([r[c] or None for r in rows], dtype="str")
                              for c in ("la_child_id", "upn", "date_of_birth", "episode_type", "start_date", "end_date")})
        frame["source_row"] = pd.array([r["line"] for r in rows], dtype="Int64")
        parts.append(RawPart(table="social_care", file=file, sheet="Episodes", frame=frame))
    read = sum(len(t.frame) for t in tables)
    coverage = [FileCoverage(SSDA903_SOURCE, t.path.name, t.year, dt.date(t.year, 3, 31)) for t in tables if t.kind == "episodes"]
    for t in tables:
        if t.kind == "episodes":
            end = dt.date(t.year, 3, 31)
            late = [(int(r["line"]), r["CHILD"], v) for _, r in t.frame.iterrows() for v in (r["DECOM"], r["DEC"])
                    if (d := _iso(v)[1]) is not None and d > end]
            findings += [_finding(t.path.name, "Episodes", line, c, v, f"after the collection year's end ({end.isoformat()})") for line, c, v in late]
    return ReturnRows(source=SSDA903_SOURCE, parts=parts, coverage=sorted(coverage, key=lambda c: c.reference_date), read=read,
                      used=used, left_out=record_frame(left, LEFT_OUT_COLUMNS), findings=record_frame(findings, FINDING_COLUMNS))
