"""The Children in Need census (XML, one file per collection year) as rows of ``social_care`` and ``local_events``.

Each ``CINdetails`` becomes a ``cin`` episode from its referral date to its closure date (open when
blank), each ``ChildProtectionPlans`` a ``cp`` episode, and each assessment factor a plan declares a
``local_events`` row coded ``CIN_<factor>`` dated by the assessment's authorisation. The file is
parsed with defusedxml (no DOCTYPE, no entities), one ``Child`` at a time; values that break the
published schema are reported as findings and the rest of the file is read.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.sax
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import defusedxml
import defusedxml.sax
import pandas as pd

from tfclaims.core.errors import InputError
from tfclaims.core.identifiers import upn_valid
from tfclaims.core.local_codes import FACTOR_CODE_PREFIX
from tfclaims.core.resources import REFERENCE_DIR, safe_yaml
from tfclaims.ingest.readers import RawPart
from tfclaims.ingest.returns import FINDING_COLUMNS, LEFT_OUT_COLUMNS, FileCoverage, ReturnOptions, ReturnRows, record_frame

__all__ = ["CIN_SOURCE", "factor_meanings", "is_cin_census", "read_cin_census"]

CIN_SOURCE = "CIN census"
_SNIFF = 64 * 1024
_ROOT_RE = re.compile(rb"<Message[\s>]")
_COLLECTION_RE = re.compile(rb"<Collection>\s*CIN\s*</Collection>")
_CLOSURE_REASONS = {f"RC{i}" for i in range(1, 10)}
_SEX_CODES = {"M", "F", "U", "0", "1", "2", "9"}
_LEFT_OUT_CLOSURES = {"RC8": "closed after assessment, no further action (RC8)",
                      "RC9": "closed after assessment, referred to early help (RC9)"}
_SUBJECT_WORDS = {"child": "the child is the subject", "parent_or_carer": "a parent or carer is the subject",
                  "other_person": "another person in the household is the subject", "none": ""}


@lru_cache(maxsize=1)
def factor_meanings() -> dict[str, dict[str, str]]:
    """Each assessment factor code of the census: its meaning and whom it concerns."""
    with open(REFERENCE_DIR / "cin_assessment_factors.yaml", encoding="utf-8") as fh:
        return {str(k): {"meaning": str(v["meaning"]), "subject": str(v["subject"])} for k, v in safe_yaml(fh)["factors"].items()}


def is_cin_census(path: Path) -> bool:
    """Whether ``path`` is a CIN census file, by its first bytes (root ``Message``, collection CIN)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF)
    except OSError:
        return False
    return bool(_ROOT_RE.search(head) and _COLLECTION_RE.search(head))


# ----------------------------------------------------------------------------------------------
# parsing: one small tree per Child


@dataclass
class _Node:
    tag: str
    line: int
    text: str = ""
    children: list[_Node] = field(default_factory=list)

    def first(self, tag: str) -> _Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def all(self, tag: str) -> list[_Node]:
        return [c for c in self.children if c.tag == tag]

    def value(self, tag: str) -> str:
        node = self.first(tag)
        return node.text.strip() if node is not None else ""

    def walk(self) -> Iterator[_Node]:
        yield self
        for c in self.children:
            yield from c.walk()


class _Handler(xml.sax.ContentHandler):
    """Builds the ``Header`` and each ``Child`` as a small tree and hands it on when it closes."""

    def __init__(self, on_header: Any, on_child: Any) -> None:
        super().__init__()
        self.on_header, self.on_child = on_header, on_child
        self.stack: list[_Node] = []
        self.locator: Any = None

    def setDocumentLocator(self, locator: Any) -> None:  # noqa: N802 (the SAX interface)
        self.locator = locator

    def startElement(self, name: str, attrs: Any) -> None:  # noqa: N802
        node = _Node(name, self.locator.getLineNumber() if self.locator else 0)
        if self.stack and (self.stack[-1].tag not in ("Message", "Children") or name in ("Header", "Child")):
            self.stack[-1].children.append(node)
        self.stack.append(node)

    def characters(self, content: str) -> None:
        if self.stack:
            self.stack[-1].text += content

    def endElement(self, name: str) -> None:  # noqa: N802
        node = self.stack.pop()
        if name == "Header":
            self.on_header(node)
        elif name == "Child":
            self.on_child(node)
            if self.stack:
                self.stack[-1].children.clear()  # constant memory: the child is done


# ----------------------------------------------------------------------------------------------
# one file


@dataclass
class _Record:
    table: str  # social_care | local_events
    element: str
    line: int
    child: str
    values: dict[str, str]
    key: tuple[str, ...]


@dataclass
class _File:
    name: str
    year: int
    reference_date: dt.date
    records: list[_Record] = field(default_factory=list)
    left_out: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    upns: list[tuple[str, int, str]] = field(default_factory=list)  # (UPN, line, child) of each child giving one

    def drop_invalid_upns(self) -> None:
        """Blank every UPN failing its check letter, with a finding where it was given."""
        if not self.upns:
            return
        given = pd.Series([u for u, _, _ in self.upns], dtype="str")
        bad = set(given[~upn_valid(given).to_numpy(dtype=bool)])
        self.findings += [_finding(self, "UPN", line, child, upn, "UPN fails the check letter: not used for linking")
                          for upn, line, child in self.upns if upn in bad]
        for r in self.records:
            if r.values.get("upn") in bad:
                r.values["upn"] = ""


def _yes(value: str, element: str, line: int, child: str, f: _File) -> bool:
    v = value.strip().lower()
    if v in ("true", "false"):
        f.findings.append(_finding(f, element, line, child, value, "true/false where the specification has 0/1: read as 1/0"))
    elif v not in ("", "0", "1"):
        f.findings.append(_finding(f, element, line, child, value, "not 0 or 1: read as 0"))
    return v in ("1", "true")


def _finding(f: _File, element: str, line: int, child: str, value: str, problem: str) -> dict[str, Any]:
    return {"source": CIN_SOURCE, "file": f.name, "element": element, "line": line, "child": child or None,
            "value": value or None, "problem": problem}


def _left(f: _File, element: str, line: int, child: str, reason: str) -> dict[str, Any]:
    return {"source": CIN_SOURCE, "file": f.name, "element": element, "line": line, "child": child or None, "reason": reason}


def _stray_text(node: _Node, f: _File, child: str) -> None:
    for n in node.walk():
        if n.children and n.text.strip():
            f.findings.append(_finding(f, n.tag, n.line, child, n.text.strip()[:100], "stray text inside an element that holds other elements"))


def _child_records(node: _Node, f: _File, options: ReturnOptions) -> None:
    ids = node.first("ChildIdentifiers") or _Node("ChildIdentifiers", node.line)
    child = ids.value("LAchildID").removesuffix(".0")
    _stray_text(node, f, child)
    upn = ids.value("UPN").upper()
    if upn:  # checked for all children at once when the file is read (one vectorised check, not one per child)
        f.upns.append((upn, ids.first("UPN").line, child))  # type: ignore[union-attr]
    sex_node = ids.first("Sex") or ids.first("GenderCurrent")
    if sex_node is not None and sex_node.text.strip() and sex_node.text.strip().upper() not in _SEX_CODES:
        f.findings.append(_finding(f, sex_node.tag, sex_node.line, child, sex_node.text.strip(), "not a sex code of the census (M, F, U; before 2025 1, 2, 0, 9)"))
    person = {"la_child_id": child, "upn": upn, "date_of_birth": ids.value("PersonBirthDate")}
    for detail in node.all("CINdetails"):
        _episode_records(detail, f, options, child, person)


def _episode_records(detail: _Node, f: _File, options: ReturnOptions, child: str, person: dict[str, str]) -> None:
    plans = detail.all("ChildProtectionPlans")
    factors = [(a, fac) for a in detail.all("Assessments") for fs in a.all("FactorsIdentifiedAtAssessment")
               for fac in fs.all("AssessmentFactors")]
    if not child:
        for n in (detail, *plans, *(fac for _, fac in factors)):
            f.left_out.append(_left(f, n.tag, n.line, "", "no LAchildID: the child cannot be linked"))
        return
    reason = detail.value("ReasonForClosure").upper()
    if reason and reason not in _CLOSURE_REASONS:
        f.findings.append(_finding(f, "ReasonForClosure", detail.first("ReasonForClosure").line, child, reason,  # type: ignore[union-attr]
                                   "not a reason for closure of the census (RC1 to RC9)"))
    nfa = _yes(detail.value("ReferralNFA"), "ReferralNFA", detail.line, child, f)
    start = detail.value("CINreferralDate")
    why = "referral with no further action (ReferralNFA)" if nfa else _LEFT_OUT_CLOSURES.get(reason)
    if why and not options.include_cin_no_further_action:
        f.left_out.append(_left(f, "CINdetails", detail.line, child, why))
    else:
        f.records.append(_Record("social_care", "CINdetails", detail.line, child,
                                 {**person, "episode_type": "cin", "start_date": start, "end_date": detail.value("CINclosureDate")},
                                 ("cin", child, start)))
    for plan in plans:
        p_start = plan.value("CPPstartDate")
        f.records.append(_Record("social_care", "ChildProtectionPlans", plan.line, child,
                                 {**person, "episode_type": "cp", "start_date": p_start, "end_date": plan.value("CPPendDate")},
                                 ("cp", child, p_start)))
    meanings = factor_meanings()
    for assessment, fac in factors:
        code = fac.text.strip().upper()
        if not code:
            f.left_out.append(_left(f, "AssessmentFactors", fac.line, child, "an empty factor"))
            continue
        meaning = meanings.get(code)
        if meaning is None:
            f.findings.append(_finding(f, "AssessmentFactors", fac.line, child, code, "not a factor code of the CIN census"))
            f.left_out.append(_left(f, "AssessmentFactors", fac.line, child, f"unknown factor code {code}"))
            continue
        contract_code = FACTOR_CODE_PREFIX + code
        authorised = assessment.value("AssessmentAuthorisationDate")
        subject = _SUBJECT_WORDS.get(meaning["subject"], "")
        words = f"assessment factor {code} ({meaning['meaning']}{': ' + subject if subject else ''})"
        if contract_code.upper() not in {c.upper() for c in options.factor_codes}:
            f.left_out.append(_left(f, "AssessmentFactors", fac.line, child, f"{words}: no rule of the outcome plan reads it"))
        elif not authorised:
            f.left_out.append(_left(f, "AssessmentFactors", fac.line, child, "assessment not authorised: its factors are provisional"))
        else:
            declared = next(c for c in options.factor_codes if c.upper() == contract_code.upper())
            f.records.append(_Record("local_events", "AssessmentFactors", fac.line, child,
                                     {**person, "event_date": authorised, "source": CIN_SOURCE, "code": declared},
                                     ("factor", child, code, authorised)))


def _header(node: _Node, name: str) -> tuple[int, dt.date, list[str]]:
    details = node.first("CollectionDetails") or _Node("CollectionDetails", node.line)
    collection = details.value("Collection")
    if collection.upper() != "CIN":
        raise InputError(f"{name}: the header's Collection is {collection!r}, not CIN: not a CIN census file")
    ref_text = details.value("ReferenceDate")
    try:
        ref = dt.date.fromisoformat(ref_text)
    except ValueError:
        raise InputError(f"{name}: the header's ReferenceDate {ref_text!r} is not a date (YYYY-MM-DD): "
                         "the file's coverage cannot be known") from None
    year_text, problems = details.value("Year"), []
    if year_text != str(ref.year):
        problems.append(f"the header's Year {year_text!r} is not the year of its ReferenceDate ({ref.isoformat()}): {ref.year} used")
    return ref.year, ref, problems


def _read_file(path: Path, options: ReturnOptions) -> _File:
    name = path.name
    size = path.stat().st_size
    if size > options.max_return_bytes:
        raise InputError(f"{name}: {size:,} bytes is more than a return may be (reader_limits.max_return_bytes "
                         f"{options.max_return_bytes:,}): not read")
    state: dict[str, Any] = {}

    def on_header(node: _Node) -> None:
        year, ref, problems = _header(node, name)
        state["file"] = f = _File(name, year, ref)
        f.findings += [_finding(f, "Header", node.line, "", "", p) for p in problems]

    def on_child(node: _Node) -> None:
        if "file" not in state:
            raise InputError(f"{name}: line {node.line}: a Child before the Header: the file's coverage cannot be known")
        _child_records(node, state["file"], options)

    handler = _Handler(on_header, on_child)
    try:
        defusedxml.sax.parse(str(path), handler, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException:
        raise InputError(f"{name}: refused: the file declares a DOCTYPE or an entity, which a CIN census never has "
                         "(and which can make an XML file read other files or expand itself)") from None
    except xml.sax.SAXParseException as exc:
        raise InputError(f"{name}: line {exc.getLineNumber()}: not well-formed XML ({exc.getMessage()})") from None
    if "file" not in state:
        raise InputError(f"{name}: no Header: the file's coverage cannot be known")
    f: _File = state["file"]
    f.drop_invalid_upns()
    return f


# ----------------------------------------------------------------------------------------------
# all years together


def read_cin_census(paths: list[Path], options: ReturnOptions) -> ReturnRows:
    """The CIN census files of a cohort folder, all years stacked: the latest year's version of an
    episode (child, type, start date) or factor wins; an episode open in one year and missing from a
    later return is closed at the earlier return's reference date."""
    files = sorted((_read_file(p, options) for p in paths), key=lambda f: (f.reference_date, f.name))
    seen: dict[int, str] = {}
    for f in files:
        if f.year in seen:
            raise InputError(f"{seen[f.year]} and {f.name} are both the CIN census for collection year {f.year}: keep one")
        seen[f.year] = f.name
    latest = files[-1].reference_date if files else None
    left_out = [x for f in files for x in f.left_out]
    findings = [x for f in files for x in f.findings]
    chosen: dict[tuple[str, ...], tuple[_File, _Record]] = {}
    for f in reversed(files):  # latest first: the first version of a key wins
        for r in f.records:
            if r.key in chosen:
                later = chosen[r.key][0]
                left_out.append(_left(f, r.element, r.line, r.child, f"superseded by the {later.year} return ({later.name})"))
            else:
                chosen[r.key] = (f, r)
    by_part: dict[tuple[str, str, str], list[tuple[int, dict[str, str]]]] = {}
    for f, r in chosen.values():
        values = dict(r.values)
        if r.table == "social_care" and not values["end_date"] and f.reference_date != latest:
            values["end_date"] = f.reference_date.isoformat()
            findings.append(_finding(f, r.element, r.line, r.child, "", f"open at this return's reference date but not in a later "
                                     f"return: closed at {f.reference_date.isoformat()}"))
        by_part.setdefault((r.table, f.name, r.element), []).append((r.line, values))
    order = {f.name: i for i, f in enumerate(files)}
    parts = []
    for (table, name, element), rows in sorted(by_part.items(), key=lambda kv: (order[kv[0][1]], kv[0][0], kv[0][2])):
        rows.sort(key=lambda x: x[0])
        frame = pd.DataFrame({c: pd.array([v[c] or None for _, v in rows], dtype="str") for c in rows[0][1]})
        frame["source_row"] = pd.array([line for line, _ in rows], dtype="Int64")
        parts.append(RawPart(table=table, file=name, sheet=element, frame=frame))
    read = sum(len(f.records) + len(f.left_out) for f in files)
    return ReturnRows(
        source=CIN_SOURCE, parts=parts,
        coverage=[FileCoverage(CIN_SOURCE, f.name, f.year, f.reference_date) for f in files],
        read=read, used=len(chosen), left_out=record_frame(left_out, LEFT_OUT_COLUMNS), findings=record_frame(findings, FINDING_COLUMNS),
    )
