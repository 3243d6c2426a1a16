"""Make the packages named in $BENCH_HIDE_MODULES absent, as on a lent GPU machine that lacks them.

Put this folder on PYTHONPATH: Python imports `sitecustomize` at start-up, and this one wraps the
path finder so that `import pandas` raises ModuleNotFoundError and `importlib.util.find_spec("pandas")`
returns None -- exactly what a machine without the package does (torch._dynamo probes optional
packages with find_spec, so raising from a finder would not be the same). Child processes inherit it
through the environment.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys

HIDDEN = frozenset(n.strip() for n in os.environ.get("BENCH_HIDE_MODULES", "").split(",") if n.strip())


class _HidingPathFinder(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname.partition(".")[0] in HIDDEN:
            return None
        return super().find_spec(fullname, path, target)


if HIDDEN:
    sys.meta_path[:] = [_HidingPathFinder if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
    for _name in [m for m in sys.modules if m.partition(".")[0] in HIDDEN]:
        del sys.modules[_name]
