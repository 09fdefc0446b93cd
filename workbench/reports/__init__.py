"""Self-contained HTML reports: one page per result, plots inlined, openable offline.

One skeleton (:mod:`workbench.reports.html`) is shared by every report: a backtest
(:mod:`~workbench.reports.backtest`), a walk-forward run (:mod:`~workbench.reports.walkforward`),
a batch (:mod:`~workbench.reports.batch`) and a reconciliation
(:mod:`workbench.live.reconcile.report`). Nothing here is imported by ``import workbench``.
"""
