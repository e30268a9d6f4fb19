"""numdiff-harness: error analysis of numerical differentiation.

The public API a notebook needs::

    import harness
    table = harness.run(cfg, out_dir="results/mine")   # sweep -> tidy DataFrame
    harness.summarize(table)                          # h*, observed order per curve
    harness.report("results/mine")                    # figures and report.html from stored results
"""

from .analysis import gradient_error, summarize
from .api import report, run, run_spec
from .config import build_spec
from .settings import SweepSpec
from .errors import ConfigError
from .expr import Expression, ExpressionError, parse_expression
from .schemes import make_scheme
from .stencils import fornberg_weights, standard_stencil, stencil_from_offsets
from .store import read_results

__all__ = [
    "ConfigError",
    "Expression",
    "ExpressionError",
    "SweepSpec",
    "build_spec",
    "fornberg_weights",
    "gradient_error",
    "make_scheme",
    "parse_expression",
    "read_results",
    "report",
    "run",
    "run_spec",
    "standard_stencil",
    "stencil_from_offsets",
    "summarize",
]

__version__ = "0.1.0"
