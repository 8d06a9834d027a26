"""zhian-twin: a digital twin of a city's public-safety system.

The package is a library; the CLI (:mod:`twin.cli`), the Prefect flows (:mod:`flows`) and the
dashboards (:mod:`dashboards`) are thin shells around it.
"""

from __future__ import annotations

from twin.errors import TwinError

__all__ = ["TwinError", "__version__"]

__version__ = "0.1.0"
