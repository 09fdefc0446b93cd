"""The one compiled part of workbench: the views' per-bar read (``workbench/_reads.c``).

Everything else is configured in pyproject.toml. The extension is optional: without a C
compiler the install goes on, and ``workbench.series`` uses its own Python class, which
behaves the same (``workbench.series.COMPILED`` says which one runs).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("workbench._reads", ["workbench/_reads.c"], optional=True)])
