"""Who was recorded, when and by whom: the metadata an NWB archive (DANDI) asks for.

A results folder knows the sessions, their animals and videos, but not the animal's sex or age,
nor who ran the experiment. These come from optional columns of the **sessions table** (one row
per session) and of an optional **subjects table** (one row per animal, key column ``animal``):

========================  ================  =====================================================
column                    table             meaning
========================  ================  =====================================================
``sex``                   both              ``M``, ``F``, ``U`` (unknown) or ``O`` (other); also
                                            ``male``, ``female``, ``unknown``, ``other``
``age``                   both              ISO 8601 duration at the session: ``P90D`` (90 days),
                                            ``P12W``, ``P3M``; a range ``P90D/P120D``
``date_of_birth``         both              a date (``2024-01-05``) or date and time
``strain``                both              e.g. ``C57BL/6J``
``genotype``              both              e.g. ``Sst-IRES-Cre/wt``
``species``               both              Latin binomial; default *Mus musculus*
``subject_description``   both              free text about the animal
``experimenter``          sessions          ``Last, First``; several separated by ``;``
``institution``           sessions          e.g. ``Max Planck Institute of Neurobiology``
``lab``                   sessions          e.g. ``Gogolla lab``
``session_start_time``    sessions          ISO 8601 date and time; a time without zone is UTC
``session_description``   sessions          free text about the session
``experiment_description``  sessions        free text about the experiment
========================  ================  =====================================================

The subject columns may be in either table; where both give a value for an animal they must
agree (``age`` excepted: an animal's age changes between sessions, so the session's wins).
DANDI requires ``sex`` and ``age`` or ``date_of_birth`` (``nwbinspector --config dandi`` calls
their absence critical); :data:`REQUIRED` names them.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mouseface._errors import InputError
from mouseface.io.tables import _row, check_unique, read_table

SUBJECT_COLUMNS = ("sex", "age", "date_of_birth", "strain", "genotype", "species",
                   "subject_description")
SESSION_COLUMNS = ("experimenter", "institution", "lab", "session_start_time",
                   "session_description", "experiment_description")
#: What DANDI will not accept a file without, as the user would name it.
REQUIRED = {"sex": "subject sex", "age": "subject age or date_of_birth"}

_SEX = {"m": "M", "male": "M", "f": "F", "female": "F", "u": "U", "unknown": "U",
        "o": "O", "other": "O"}
_DURATION = (r"P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
             r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?")
_AGE = re.compile(rf"^{_DURATION}(/({_DURATION})?)?$")


@dataclass
class SessionMetadata:
    """The metadata of one session: subject fields and session fields (None: not given)."""

    subject: dict[str, object] = field(default_factory=dict)
    session: dict[str, object] = field(default_factory=dict)

    def missing(self) -> list[str]:
        """The fields DANDI requires that are not given (keys of :data:`REQUIRED`)."""
        out = [] if self.subject.get("sex") else ["sex"]
        if not (self.subject.get("age") or self.subject.get("date_of_birth")):
            out.append("age")
        return out


def read_subjects(path: str | Path) -> pd.DataFrame:
    """Read a subjects table (CSV, TSV or Parquet): ``animal`` plus columns of
    :data:`SUBJECT_COLUMNS`; one row per animal. Values are checked (see
    :func:`session_metadata`).

    Raises
    ------
    InputError
        Missing file or ``animal`` column, a duplicate animal, no known column.
    """
    path = Path(path)
    df = read_table(path)
    if "animal" not in df.columns:
        raise InputError("header (row 1): a subjects table needs an animal column (the table "
                         f"has: {', '.join(df.columns) or 'no columns'})", path)
    known = [c for c in SUBJECT_COLUMNS if c in df.columns]
    if not known:
        raise InputError(f"header (row 1): none of the subject columns "
                         f"{', '.join(SUBJECT_COLUMNS)}", path)
    animals = [_id(v) for v in df["animal"]]
    check_unique(animals, "animal", path)
    out = pd.DataFrame({"animal": animals})
    for c in known:
        out[c] = pd.Series([_cell(c, v, i, path) for i, v in enumerate(df[c].tolist())],
                           dtype=object)
    out.attrs["path"] = str(path)
    return out


def read_sessions_metadata(path: str | Path) -> pd.DataFrame:
    """The metadata columns of a sessions table (``session``, ``animal`` and those of
    :data:`SUBJECT_COLUMNS` and :data:`SESSION_COLUMNS` it has), values checked."""
    path = Path(path)
    df = read_table(path)
    if "session" not in df.columns:
        raise InputError("header (row 1): missing column session", path)
    sessions = [_id(v) for v in df["session"]]
    out = pd.DataFrame({"session": sessions,
                        "animal": ([_id(v) for v in df["animal"]] if "animal" in df.columns
                                   else sessions)})
    for c in (*SUBJECT_COLUMNS, *SESSION_COLUMNS):
        if c in df.columns:
            out[c] = pd.Series([_cell(c, v, i, path) for i, v in enumerate(df[c].tolist())],
                               dtype=object)
    out.attrs["path"] = str(path)
    return out


def session_metadata(sessions: pd.DataFrame | None, subjects: pd.DataFrame | None,
                     session: str, animal: str) -> SessionMetadata:
    """Merge the sessions table's row of ``session`` with the subjects table's row of
    ``animal`` (tables from :func:`read_sessions_metadata` and :func:`read_subjects`).

    Raises
    ------
    InputError
        The two tables disagree about the animal, or the sessions table gives one animal two
        values of a field that does not change (sex, strain...).
    """
    meta = SessionMetadata()
    sub_row = _the_row(subjects, "animal", animal)
    ses_row = _the_row(sessions, "session", session)
    for c in SUBJECT_COLUMNS:
        a = None if sub_row is None else sub_row.get(c)
        b = None if ses_row is None else ses_row.get(c)
        if c != "age" and sessions is not None and c in sessions.columns:
            values = {v for v in sessions.loc[sessions["animal"] == animal, c] if v is not None}
            if len(values) > 1:
                raise InputError(f"animal {animal!r} has {len(values)} different values of "
                                 f"{c} ({', '.join(sorted(map(str, values)))})",
                                 sessions.attrs.get("path"))
        if a is not None and b is not None and a != b and c != "age":
            raise InputError(f"animal {animal!r}: {c} is {b!r} in the sessions table but "
                             f"{a!r} in the subjects table", subjects.attrs.get("path"))
        value = b if b is not None else a
        if value is not None:
            meta.subject[c] = value
    for c in SESSION_COLUMNS:
        value = None if ses_row is None else ses_row.get(c)
        if value is not None:
            meta.session[c] = value
    return meta


def _the_row(table: pd.DataFrame | None, key: str, value: str) -> dict | None:
    if table is None:
        return None
    rows = table[table[key] == value]
    return None if rows.empty else rows.iloc[0].to_dict()


def _id(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # a numeric id column read as float
    return str(v).strip()


def _cell(column: str, value: object, i: int, path: Path) -> object:
    """One metadata cell, checked and normalised; None when empty."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    text = str(value).strip()
    if not text:
        return None
    where = f"{_row(i)}: {column}"
    if column == "sex":
        sex = _SEX.get(text.lower())
        if sex is None:
            raise InputError(f"{where} {text!r} is not one of M, F, U, O (male, female, "
                             "unknown, other)", path)
        return sex
    if column == "age":
        age = text.upper()
        if not _AGE.match(age):
            raise InputError(f"{where} {text!r} is not an ISO 8601 duration such as P90D "
                             "(90 days) or P12W (12 weeks)", path)
        return age
    if column in ("date_of_birth", "session_start_time"):
        return _datetime(value, where, path)
    if column == "experimenter":
        return tuple(p.strip() for p in text.split(";") if p.strip())
    return text


def _datetime(value: object, where: str, path: Path) -> _dt.datetime:
    try:
        t = pd.Timestamp(value)
    except (TypeError, ValueError):
        t = pd.NaT
    if t is pd.NaT:
        raise InputError(f"{where} {str(value)!r} is not a date and time such as "
                         "2024-02-23T08:51:00+01:00", path)
    t = t.to_pydatetime()
    return t if t.tzinfo is not None else t.replace(tzinfo=_dt.timezone.utc)


__all__ = ["REQUIRED", "SESSION_COLUMNS", "SUBJECT_COLUMNS", "SessionMetadata",
           "read_sessions_metadata", "read_subjects", "session_metadata"]
