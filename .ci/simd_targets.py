"""Print the numpy SIMD dispatch targets to switch off (NPY_DISABLE_CPU_FEATURES) for one CI pass.

``widest``: the targets of the widest level this machine runs (AVX-512 here -> numpy takes its AVX2 loops);
``all``: every dispatched target this machine runs (numpy takes its baseline loops). Prints nothing when
there is nothing to switch off, or when this numpy does not say what it dispatches.
"""

import sys

try:
    from numpy._core import _multiarray_umath as umath
except ImportError:  # numpy < 2
    sys.exit(0)

dispatch = [t for t in getattr(umath, "__cpu_dispatch__", []) if umath.__cpu_features__.get(t)]
if sys.argv[1:] == ["widest"]:
    # Dispatch targets are listed from the narrowest to the widest; the AVX-512 groups share a prefix.
    wide = [t for t in dispatch if "512" in t or t.endswith("V4")]
    print(" ".join(wide if wide and len(wide) < len(dispatch) else []))
else:
    print(" ".join(dispatch))
