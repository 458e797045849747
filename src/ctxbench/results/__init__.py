"""A run is data: measurements (JSON Lines, appended live), plans, and metadata.

Everything downstream (analysis, reports, comparisons) reads only these files.
"""

from ctxbench.results.model import SCHEMA_VERSION, Measurement, PhaseRecord, RunMeta
from ctxbench.results.store import ResultsDir

__all__ = ["SCHEMA_VERSION", "Measurement", "PhaseRecord", "ResultsDir", "RunMeta"]
