"""Synthetic unlinked event rows for the link stage: realistic identifiers with realistic errors.

``make_unlinked(tables, people, rate, seed)`` takes event tables whose rows carry ``person_id`` and
turns a fraction of them into rows a source system without the council's person key would send:
``person_id`` dropped, and instead one identifier (UPN, NHS number, NI number, sometimes two), or
only first name + last name + date of birth (+ postcode), with the errors real extracts carry:
transposed letters, nicknames, upper case, lost accents and hyphens, day/month swapped, a digit
of the day mistyped, postcodes without the space, in lower case, with the last character changed,
from before a house move, or missing. It returns the changed tables and the truth
(``table, source_file, source_sheet, source_row -> person_id``) to measure the link stage against.

``make_people(n, seed)`` is a small, fast people-table generator (families sharing a surname and
postcode, valid UPNs / NHS numbers / NI numbers) for the link stage's own tests, benchmarks and
model training. Everything is vectorised and seeded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfclaims.core.cohort import EVENT_TABLES
from tfclaims.core.identifiers import UPN_LETTERS
from tfclaims.link.names import nickname_groups, normalise_name

IDENTITY_COLUMNS: tuple[str, ...] = (
    "upn", "nhs_number", "ni_number", "first_name", "last_name", "date_of_birth", "postcode",
)

# How an unlinked row refers to its person (shares; an id mode falls back to names when the person has no such id).
MODE_SHARES: dict[str, float] = {"upn": 0.20, "nhs_number": 0.15, "ni_number": 0.10, "names": 0.55}

# Error rates on rows that carry names (each applied independently).
ERROR_RATES: dict[str, float] = {
    "first_transposed": 0.06,
    "first_nickname": 0.08,
    "first_missing": 0.01,
    "last_transposed": 0.05,
    "upper_case": 0.10,
    "plain_ascii": 0.50,  # accents, hyphens and apostrophes lost (where there are any)
    "dob_day_month_swapped": 0.03,
    "dob_day_mistyped": 0.02,
    "postcode_given": 0.60,
    "postcode_no_space": 0.10,
    "postcode_lower": 0.10,
    "postcode_last_changed": 0.05,
    "postcode_moved": 0.10,
    "second_identifier": 0.20,
}

_POSTCODE_AREAS = np.array(["B", "BS", "CV", "E", "L", "LS", "M", "N", "NG", "S", "SE", "SW", "WS", "WV"])
_UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
_NI_PREFIXES = np.array(["AB", "CE", "HJ", "JK", "MA", "NP", "PR", "SW", "TX", "WA", "YZ", "ZY"])
_EXTRA_FIRST = np.array(["Zoë", "Chloë", "José", "Renée", "Noël", "Siân", "Seán", "Anne-Marie", "Mary-Jane", "Niamh"])
_EXTRA_LAST = np.array(["O'Brien", "O'Neill", "McDonald", "Smith-Jones", "Bowes-Lyon", "D'Souza", "Núñez", "Brontë"])


def _name_pools() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from faker.providers.person.en_GB import Provider

    male = np.array(Provider.first_names_male + tuple(_EXTRA_FIRST[[2, 4, 6]]))
    female = np.array(Provider.first_names_female + tuple(_EXTRA_FIRST[[0, 1, 3, 5, 7, 8, 9]]))
    zipf = lambda n: (w := 1.0 / np.arange(1, n + 1) ** 0.8) / w.sum()  # noqa: E731 - popularity falls off
    last = np.array(list(Provider.last_names.keys()) + list(_EXTRA_LAST))
    lw = np.array(list(Provider.last_names.values()) + [0.02] * len(_EXTRA_LAST), dtype=float)
    return male, zipf(len(male)), female, zipf(len(female)), last, lw / lw.sum()


def _upn_values(rng: np.random.Generator, n: int, start: int) -> np.ndarray:
    """Valid permanent UPNs: check letter + LA (3) + school (4) + year (2) + serial (3), unique per person."""
    serial = np.arange(start, start + n, dtype=np.int64)
    la = rng.integers(201, 940, n)
    body = np.char.add(np.char.zfill(la.astype(str), 3), np.char.zfill((serial % 10**9).astype(str), 9))
    digits = np.frombuffer("".join(body.tolist()).encode("ascii"), dtype=np.uint8).reshape(n, 12) - 48
    check = (digits.astype(np.int64) * np.arange(2, 14)).sum(axis=1) % 23
    letters = np.array(list(UPN_LETTERS))[check]
    return np.char.add(letters, body)


def _nhs_values(n: int, start: int) -> np.ndarray:
    """Valid NHS numbers (modulus 11), unique per person; missing (None) where no check digit exists."""
    first9 = 400_000_000 + np.arange(start, start + n, dtype=np.int64) * 7
    digits = (first9[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    check = (11 - (digits * np.arange(10, 1, -1)).sum(axis=1) % 11) % 11
    out = np.char.add(first9.astype(str), (check % 10).astype(str)).astype(object)
    out[check == 10] = None
    return out


def _postcodes(rng: np.random.Generator, n: int) -> np.ndarray:
    area = rng.choice(_POSTCODE_AREAS, n)
    district = rng.integers(1, 30, n).astype(str)
    sector = rng.integers(0, 10, n).astype(str)
    unit = np.char.add(rng.choice(_UNIT_LETTERS, n), rng.choice(_UNIT_LETTERS, n))
    return np.char.add(np.char.add(np.char.add(area, district), " "), np.char.add(sector, unit))


def make_people(n: int, seed: int = 0, *, twin_rate: float = 0.02) -> pd.DataFrame:
    """About ``n`` people in families of 1-2 adults and 0-4 children, sharing surname and postcode.

    Adults have an NI number (80%), children a UPN (90%); most have an NHS number. Some children
    are twins (same date of birth, different first names).
    """
    rng = np.random.default_rng(seed)
    male, mw, female, fw, last, lw = _name_pools()
    n_families = max(1, n // 3)
    adults = rng.choice([1, 2], n_families, p=[0.45, 0.55])
    children = rng.choice([0, 1, 2, 3, 4], n_families, p=[0.05, 0.3, 0.35, 0.2, 0.1])
    size = adults + children
    while size.sum() < n:  # top up to n
        children[rng.integers(0, n_families)] += 1
        size = adults + children
    fam = np.repeat(np.arange(n_families), size)
    position = np.arange(len(fam)) - np.repeat(np.cumsum(size) - size, size)
    is_adult = position < np.repeat(adults, size)
    keep = np.arange(len(fam)) < n
    fam, position, is_adult = fam[keep], position[keep], is_adult[keep]
    m = len(fam)

    sex = np.where(rng.random(m) < 0.5, "M", "F")
    first = np.where(sex == "M", rng.choice(male, m, p=mw), rng.choice(female, m, p=fw))
    family_last = rng.choice(last, n_families, p=lw)
    surname = family_last[fam]
    other_last = rng.random(m) < 0.1  # a partner with their own surname
    surname = np.where(other_last & is_adult & (position == 1), rng.choice(last, m, p=lw), surname)

    base = pd.Timestamp("1900-01-01")
    adult_days = (pd.Timestamp("1965-01-01") - base).days + rng.integers(0, 35 * 365, m)
    child_days = (pd.Timestamp("2004-01-01") - base).days + rng.integers(0, 20 * 365, m)
    days = np.where(is_adult, adult_days, child_days)
    # twins: a child takes the date of birth of the previous child of the same family
    twin = (~is_adult) & (position > np.repeat(adults, size)[keep]) & (rng.random(m) < twin_rate)
    idx = np.arange(m)
    days = np.where(twin, np.roll(days, 1), days)
    dob = pd.to_datetime(base + pd.to_timedelta(days, unit="D")).astype("datetime64[ns]")

    postcode = _postcodes(rng, n_families)[fam]
    start = int(rng.integers(0, 10**6))
    upn = np.where((~is_adult) & (rng.random(m) < 0.9), _upn_values(rng, m, start), None)
    nhs = np.where(rng.random(m) < 0.85, _nhs_values(m, start), None)
    ni_body = np.char.zfill(((idx + start) % 10**6).astype(str), 6)
    ni_prefix = _NI_PREFIXES[((idx + start) // 10**6) % len(_NI_PREFIXES)]
    ni = np.char.add(np.char.add(ni_prefix, ni_body), rng.choice(np.array(list("ABCD")), m))
    ni = np.where(is_adult & (rng.random(m) < 0.8), ni, None)
    relationship = np.where(is_adult, "parent", "child")
    return pd.DataFrame(
        {
            "person_id": pd.array([f"P{i:07d}" for i in idx], dtype="str"),
            "family_id": pd.array([f"F{f:07d}" for f in fam], dtype="str"),
            "first_name": pd.array(first, dtype="str"),
            "last_name": pd.array(surname, dtype="str"),
            "date_of_birth": dob,
            "sex": pd.array(sex, dtype="str"),
            "relationship": pd.array(relationship, dtype="str"),
            "postcode": pd.array(postcode, dtype="str"),
            "upn": pd.array(upn, dtype="str"),
            "nhs_number": pd.array(nhs, dtype="str"),
            "ni_number": pd.array(ni, dtype="str"),
        }
    )


# ---------------------------------------------------------------------------------------------
# errors


def transpose_letters(s: pd.Series, rng: np.random.Generator) -> pd.Series:
    """Swap two neighbouring characters at a random position of each (non-missing, 2+ character) value."""
    s = s.astype("str")
    length = s.str.len().fillna(0).astype(int).to_numpy()
    pos = np.floor(rng.random(len(s)) * np.maximum(length - 1, 1)).astype(int)
    out = s.copy()
    for p in np.unique(pos[length >= 2]):  # one vectorised slice per position (names are short)
        rows = (pos == p) & (length >= 2)
        part = s[rows]
        out.loc[rows] = part.str[:p] + part.str[p + 1 : p + 2] + part.str[p : p + 1] + part.str[p + 2 :]
    return out


def _nickname_of(first: pd.Series, rng: np.random.Generator) -> pd.Series:
    """A short form of each first name that has one (title case), else missing."""
    groups = nickname_groups()
    norm = normalise_name(first)
    choice = rng.random(len(first))
    options = norm.map(lambda n: groups.get(n) if isinstance(n, str) else None)  # small dict lookup per name
    picked = [o[int(c * len(o))].title() if o else None for o, c in zip(options.tolist(), choice)]
    return pd.Series(pd.array(picked, dtype="str"), index=first.index)


def _plain_ascii(s: pd.Series) -> pd.Series:
    """What a system without accents or punctuation stores: ``O'Brien`` -> ``OBrien``, ``Zoë`` -> ``Zoe``."""
    s = s.astype("str")
    plain = s.str.normalize("NFKD").str.encode("ascii", errors="ignore").str.decode("ascii").astype("str")
    return plain.str.replace(r"['\-]", "", regex=True)


def corrupt_identity(identity: pd.DataFrame, rng: np.random.Generator, rates: dict[str, float] | None = None,
                     moved_postcodes: pd.Series | None = None) -> pd.DataFrame:
    """Names, date of birth and postcode as an external system might hold them (see ``ERROR_RATES``)."""
    r = {**ERROR_RATES, **(rates or {})}
    n = len(identity)
    out = identity[["first_name", "last_name", "date_of_birth", "postcode"]].copy()

    def hit(name: str) -> np.ndarray:
        return rng.random(n) < r[name]

    first = out["first_name"].astype("str")
    nick = _nickname_of(first, rng)
    use_nick = hit("first_nickname") & nick.notna().to_numpy()
    first = first.mask(use_nick, nick)
    first = first.mask(hit("first_transposed"), transpose_letters(first, rng))
    last = out["last_name"].astype("str")
    last = last.mask(hit("last_transposed"), transpose_letters(last, rng))
    plain = hit("plain_ascii")
    first = first.mask(plain, _plain_ascii(first))
    last = last.mask(plain, _plain_ascii(last))
    upper = hit("upper_case")
    first = first.mask(upper, first.str.upper())
    last = last.mask(upper, last.str.upper())
    first = first.mask(hit("first_missing"))
    out["first_name"] = first.astype("str")
    out["last_name"] = last.astype("str")

    dob = out["date_of_birth"]
    day, month = dob.dt.day, dob.dt.month
    swap = hit("dob_day_month_swapped") & (day <= 12).to_numpy() & (day != month).to_numpy()
    swapped = pd.to_datetime(
        pd.DataFrame({"year": dob.dt.year, "month": day.clip(upper=12), "day": month}), errors="coerce"
    )
    dob = dob.mask(swap, swapped)
    new_day = (dob.dt.day + 1).where(dob.dt.day < 28, dob.dt.day - 1)  # a slip on the last digit, still a real day
    mistyped = pd.to_datetime(pd.DataFrame({"year": dob.dt.year, "month": dob.dt.month, "day": new_day}), errors="coerce")
    dob = dob.mask(hit("dob_day_mistyped") & ~swap, mistyped)
    out["date_of_birth"] = dob.astype("datetime64[ns]")

    pc = out["postcode"].astype("str")
    if moved_postcodes is not None:
        pc = pc.mask(hit("postcode_moved"), pd.Series(moved_postcodes.to_numpy(), index=pc.index))
    last_char = pd.Series(rng.choice(_UNIT_LETTERS, n), index=pc.index)
    pc = pc.mask(hit("postcode_last_changed"), pc.str[:-1] + last_char)
    pc = pc.mask(hit("postcode_no_space"), pc.str.replace(" ", "", regex=False))
    pc = pc.mask(hit("postcode_lower"), pc.str.lower())
    out["postcode"] = pc.mask(~hit("postcode_given")).astype("str")
    return out


def make_unlinked(tables: dict[str, pd.DataFrame], people: pd.DataFrame, rate: float, seed: int,
                  *, mode_shares: dict[str, float] | None = None,
                  error_rates: dict[str, float] | None = None) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Turn ``rate`` of the event rows (with a person_id) into rows that carry only identifiers.

    Returns the changed tables (other tables are passed through unchanged) and the truth:
    ``table, source_file, source_sheet, source_row, person_id, mode`` for every changed row
    (``mode``: ``upn``, ``nhs_number``, ``ni_number``, or ``names``).
    """
    rng = np.random.default_rng(seed)
    shares = {**MODE_SHARES, **(mode_shares or {})}
    modes = np.array(list(shares))
    p = np.array(list(shares.values()), dtype=float)
    # Typed tables (after ingest) or text cells (as tfclaims.synth.generate writes them): dates follow the people table.
    as_text = not pd.api.types.is_datetime64_any_dtype(people["date_of_birth"])
    person = people.set_index("person_id")
    if as_text:
        person = person.assign(date_of_birth=pd.to_datetime(person["date_of_birth"], format="mixed", dayfirst=True,
                                                             errors="coerce").astype("datetime64[ns]"))
    out: dict[str, pd.DataFrame] = dict(tables)
    truths: list[pd.DataFrame] = []
    for name in EVENT_TABLES:
        table = tables.get(name)
        if table is None or "person_id" not in table.columns or table.empty:
            continue
        chosen = table["person_id"].notna().to_numpy() & (rng.random(len(table)) < rate)
        if not chosen.any():
            continue
        t = table.copy()
        for col in IDENTITY_COLUMNS:
            if col not in t.columns:
                t[col] = pd.Series(pd.NaT, index=t.index, dtype="datetime64[ns]") if col == "date_of_birth" \
                    and not as_text else pd.Series(pd.NA, index=t.index, dtype="str")
        rows = t.index[chosen]
        pid = t.loc[rows, "person_id"].astype("str")
        who = person.reindex(pid.to_numpy())
        who.index = rows
        mode = pd.Series(rng.choice(modes, len(rows), p=p / p.sum()), index=rows)
        # an id mode falls back to names when the person has no such id
        for id_col in ("upn", "nhs_number", "ni_number"):
            has = who[id_col].notna() if id_col in who.columns else pd.Series(False, index=rows)
            mode = mode.mask((mode == id_col) & ~has, "names")
        names = mode == "names"
        moved = people["postcode"].sample(len(rows), replace=True, random_state=rng.integers(2**31)) \
            if "postcode" in people.columns else None
        ident = corrupt_identity(who, rng, error_rates, moved)
        if as_text:
            ident["date_of_birth"] = ident["date_of_birth"].dt.strftime("%Y-%m-%d").astype("str")
        for col in IDENTITY_COLUMNS:
            t.loc[rows, col] = pd.NaT if col == "date_of_birth" and not as_text else pd.NA
        for col in ("first_name", "last_name", "date_of_birth", "postcode"):
            t.loc[rows[names.to_numpy()], col] = ident.loc[names, col]
        second = rng.random(len(rows)) < ERROR_RATES["second_identifier"] if error_rates is None \
            else rng.random(len(rows)) < {**ERROR_RATES, **error_rates}["second_identifier"]
        for id_col in ("upn", "nhs_number", "ni_number"):
            if id_col not in who.columns:
                continue
            keep = (mode == id_col) | (second & (mode != "names") & who[id_col].notna())
            t.loc[rows[keep.to_numpy()], id_col] = who.loc[keep, id_col]
        t.loc[rows, "person_id"] = pd.NA
        out[name] = t
        truths.append(pd.DataFrame({
            "table": name,
            "source_file": t.loc[rows, "source_file"].to_numpy() if "source_file" in t else f"{name}.csv",
            "source_sheet": t.loc[rows, "source_sheet"].to_numpy() if "source_sheet" in t else pd.NA,
            # without lineage: the row a person sees in the table's own CSV file (header = row 1)
            "source_row": t.loc[rows, "source_row"].to_numpy() if "source_row" in t else np.flatnonzero(chosen) + 2,
            "person_id": pid.to_numpy(),
            "mode": mode.to_numpy(),
        }))
    truth = pd.concat(truths, ignore_index=True) if truths else pd.DataFrame(
        columns=["table", "source_file", "source_sheet", "source_row", "person_id", "mode"])
    for col in ("table", "source_file", "source_sheet", "person_id", "mode"):
        truth[col] = truth[col].astype("str")
    truth["source_row"] = truth["source_row"].astype("Int64")
    return out, truth


def make_events(people: pd.DataFrame, n_rows: int, seed: int, table: str = "offences") -> pd.DataFrame:
    """A plain event table (``offences`` shape by default) with ``n_rows`` rows for random people."""
    rng = np.random.default_rng(seed)
    pid = people["person_id"].to_numpy()[rng.integers(0, len(people), n_rows)]
    return pd.DataFrame({
        "person_id": pd.array(pid, dtype="str"),
        "offence_date": (pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, n_rows), unit="D"))
        .astype("datetime64[ns]"),
        "outcome": pd.array(rng.choice(["proven", "not_proven", "pending"], n_rows), dtype="str"),
        "source_file": pd.array([f"{table}.csv"] * n_rows, dtype="str"),
        "source_sheet": pd.array([pd.NA] * n_rows, dtype="str"),
        "source_row": pd.array(np.arange(2, n_rows + 2), dtype="Int64"),
    })
