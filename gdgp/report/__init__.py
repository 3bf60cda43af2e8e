"""Report stage: paper-style tables (Table 4, NoC, significance) and figures from evaluation outputs.

The maths lives in :mod:`gdgp.report.tables`, the plots in :mod:`gdgp.report.figures` and
the file handling in :mod:`gdgp.report.build`; callers need only :func:`build_report`.
"""

from __future__ import annotations

from gdgp.report.build import build_report

__all__ = ["build_report"]
