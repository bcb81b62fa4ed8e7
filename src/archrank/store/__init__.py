"""The one results store of archrank: one SQLite file, one schema, one reader (:class:`Store`).

Every method writes here — proxy scores, Eproxy and EZNAS values, reduced trainings (``measurements``), every
run of any kind (``runs``) and the steps of iterative runs (``trials``). See :mod:`archrank.store.schema`.
Results travel between machines as store files (:mod:`archrank.store.merge`) or as scores tables committed beside
a report (:mod:`archrank.store.table`).
"""

from archrank.store.core import (
    DEFAULT_PATH,
    RUN_KINDS,
    SCORE_KEY,
    STATUSES,
    Measurement,
    ScoreRow,
    Store,
)
from archrank.store.file import SQLiteFile, StoreError
from archrank.store.merge import MergeReport, merge_store
from archrank.store.schema import SCHEMA_VERSION

__all__ = [
    "DEFAULT_PATH",
    "RUN_KINDS",
    "SCHEMA_VERSION",
    "SCORE_KEY",
    "STATUSES",
    "Measurement",
    "MergeReport",
    "SQLiteFile",
    "ScoreRow",
    "Store",
    "StoreError",
    "merge_store",
]
