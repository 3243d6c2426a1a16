"""scripts/planted_bugs.py stays applicable: every planted bug's text is still in the code, once.

Cheap (no pytest subprocess): `make planted` runs the cases themselves. A refactor that moves or
rewrites a planted line fails here, so the case is rewritten rather than left stale.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _script():
    name = "planted_bugs"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "planted_bugs.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


CASES = _script().CASES


def test_the_fourteen_cases_of_the_issue():
    assert len(CASES) == 14 and len({c.name for c in CASES}) == 14


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_planted_bug_still_applies(case):
    text = (ROOT / case.path).read_text(encoding="utf-8")
    assert text.count(case.old) == 1, f"{case.path}: the planted bug's old text must occur exactly once"
    assert case.new != case.old and case.tests
    for node in case.tests:
        path, _, name = node.partition("::")
        test_file = ROOT / path
        assert test_file.is_file() and name, node
        assert re.search(rf"^def {re.escape(name.split('[')[0])}\(", test_file.read_text(encoding="utf-8"), re.MULTILINE), node
