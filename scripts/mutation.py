"""Mutation testing of the measurement core with mutmut 3, and its score.

    python scripts/mutation.py                       # fresh run: mutants/ rebuilt, every core mutant tested
    python scripts/mutation.py --report              # score of the last run only (no testing)
    python scripts/mutation.py --only '*evaluate*'   # re-test these functions in the existing mutants/, then score all

What is mutated and which tests run is configured in pyproject.toml ([tool.mutmut], and the function
list in [tool.bench-mutation]). The score is (killed + timed out) / (total - equivalent), where "equivalent" are the
survivors that tests/mutation_equivalent.txt lists with a reason; entries there are matched by
function and by the text of the original and mutated line, so they survive a renumbering of mutants.
Exit status: 0 when the score reaches the target, 1 below it, 2 when the run itself failed.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KILLED = {1, 3}  # mutmut: a failing test run (3: pytest internal error) is a kill
TIMEOUT = {36, 24, -24, 152, 255}
# A mutant that makes the tests run past mutmut's time limit (an endless retry loop, say) is caught as well: the
# test job would never pass. Stryker and PIT count such mutants as detected; so does the score here.
DETECTED = KILLED | TIMEOUT
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    37: "type check",
    -11: "segfault",
    -9: "segfault",
    None: "not checked",
}


@dataclass(frozen=True)
class Equivalent:
    function: str  # glob over mutmut function names
    before: str
    after: str
    why: str


def load_config() -> dict:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["bench-mutation"]
    return {"functions": list(cfg["functions"]), "equivalent": ROOT / cfg["equivalent"], "target": float(cfg["target"])}


def read_equivalents(path: Path) -> list[Equivalent]:
    """Blocks of `[function glob]`, `- original line`, `+ mutated line`, `why: reason` (blank line between)."""
    out, block = [], {}
    for raw in path.read_text(encoding="utf-8").splitlines() + [""]:
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line:
            if block:
                missing = {"function", "-", "+", "why"} - set(block)
                if missing:
                    raise SystemExit(f"{path}: an entry lacks {sorted(missing)}: {block}")
                out.append(Equivalent(block["function"], block["-"], block["+"], block["why"]))
                block = {}
            continue
        if line.startswith("[") and line.endswith("]"):
            block["function"] = line[1:-1].strip()
        elif line[:1] in "-+":
            block[line[0]] = line[1:].strip()
        elif line.startswith("why:"):
            block["why"] = line[4:].strip()
        else:
            raise SystemExit(f"{path}: cannot read line {raw!r}")
    return out


def function_of(mutant: str) -> str:
    return mutant.partition("__mutmut_")[0]


def in_scope(mutant: str, functions: list[str]) -> bool:
    return function_of(mutant) in functions


def results() -> dict[str, int | None]:
    """Exit code per mutant name from mutmut's .meta files."""
    out: dict[str, int | None] = {}
    for meta in (ROOT / "mutants").rglob("*.py.meta"):
        out.update(json.loads(meta.read_text(encoding="utf-8")).get("exit_code_by_key", {}))
    return out


def changed_lines(mutants: list[str]) -> dict[str, tuple[str, str]]:
    """(original, mutated) text of the line each mutant changes, from mutmut's own diff."""
    if not mutants:
        return {}
    code = (
        "import json, sys\n"
        "from mutmut.__main__ import find_mutant, get_diff_for_mutant\n"
        "out = {}\n"
        "for name in json.load(sys.stdin):\n"
        "    try:\n"
        "        d = get_diff_for_mutant(name, path=find_mutant(name).path).splitlines()\n"
        "    except Exception as e:\n"
        "        out[name] = ['?', f'? ({type(e).__name__})']\n"
        "        continue\n"
        "    minus = ' '.join(l[1:].strip() for l in d if l.startswith('-') and not l.startswith('---'))\n"
        "    plus = ' '.join(l[1:].strip() for l in d if l.startswith('+') and not l.startswith('+++'))\n"
        "    out[name] = [minus, plus]\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(mutants), capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return {m: ("?", "?") for m in mutants}
    return {k: (v[0], v[1]) for k, v in json.loads(proc.stdout).items()}


def run_mutmut(functions: list[str], jobs: int, fresh: bool = True) -> int:
    if fresh:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # no stale mutants or stats after a merge
    patterns = [f"{f}__mutmut_*" for f in functions]
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *patterns]
    print(f"$ mutmut run --max-children {jobs} <{len(patterns)} functions>", flush=True)
    with open(
        ROOT / "mutants.log", "w" if fresh else "a", encoding="utf-8"
    ) as log:  # mutmut redraws a status line: keep it off the console
        return subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode


def report(cfg: dict) -> int:
    functions, target = cfg["functions"], cfg["target"]
    codes = {k: v for k, v in results().items() if in_scope(k, functions)}
    if not codes:
        print("no results for the core functions: run `make mutation` (or scripts/mutation.py) first", file=sys.stderr)
        return 2
    seen = {function_of(k) for k in codes}
    for f in functions:
        if f not in seen:
            print(f"warning: {f} has no mutants: renamed or removed? re-point [tool.bench-mutation].functions")
    survivors = sorted(k for k, v in codes.items() if v not in DETECTED)
    lines = changed_lines(survivors)
    equivalents = read_equivalents(cfg["equivalent"])
    matched: dict[str, Equivalent] = {}
    used: set[Equivalent] = set()
    for m in survivors:
        before, after = lines.get(m, ("?", "?"))
        for e in equivalents:
            if fnmatch.fnmatch(function_of(m), e.function) and e.before == before and e.after == after:
                matched[m] = e
                used.add(e)
                break

    by_function: dict[str, Counter] = defaultdict(Counter)
    for k, v in codes.items():
        by_function[function_of(k)]["total"] += 1
        by_function[function_of(k)][
            "killed" if v in DETECTED else ("equivalent" if k in matched else STATUS.get(v, "suspicious"))
        ] += 1
    width = max(len(f) for f in by_function)
    print(f"\n{'function':<{width}}  total  killed  equiv  other")
    for f in functions:
        c = by_function.get(f)
        if c:
            print(
                f"{f:<{width}}  {c['total']:5d}  {c['killed']:6d}  {c['equivalent']:5d}  {c['total'] - c['killed'] - c['equivalent']:5d}"
            )

    alive = [m for m in survivors if m not in matched]
    if alive:
        print(f"\n{len(alive)} mutant(s) not killed (`mutmut show NAME` prints the diff):")
        for m in alive:
            before, after = lines.get(m, ("?", "?"))
            print(f"  {STATUS.get(codes[m], 'suspicious'):<10} {m}\n      - {before}\n      + {after}")
    stale = [e for e in equivalents if e not in used]
    if stale:
        print(
            f"\nnote: {len(stale)} entr{'y' if len(stale) == 1 else 'ies'} of {cfg['equivalent'].name} matched no surviving mutant "
            "(killed now, or the code changed): review them"
        )
    statuses = Counter(STATUS.get(v, "suspicious") for v in codes.values())
    total, equivalent = len(codes), len(matched)
    detected = statuses["killed"] + statuses["timeout"]
    score = 100.0 * detected / (total - equivalent) if total > equivalent else 0.0
    print(f"\nmutants: {total} in {len(seen)} functions; " + ", ".join(f"{n} {s}" for s, n in statuses.most_common()))
    print(
        f"mutation score: ({statuses['killed']} killed + {statuses['timeout']} timed out) / ({total} total - {equivalent} equivalent)"
        f" = {score:.1f}% (target {target:g}%)"
    )
    return 0 if score >= target else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="only print the score of the last run")
    parser.add_argument("--only", metavar="GLOB[,GLOB]", help="re-test only the core functions matching a GLOB, keeping mutants/")
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("MUTATION_JOBS", os.cpu_count() or 2)),
        help="parallel mutant runs (default: MUTATION_JOBS or the core count)",
    )
    args = parser.parse_args()
    cfg = load_config()
    if not args.report:
        start = time.monotonic()
        globs = args.only.split(",") if args.only else ["*"]
        functions = [f for f in cfg["functions"] if any(fnmatch.fnmatch(f, g) for g in globs)]
        if not functions:
            print(f"--only {args.only!r} matches none of the core functions", file=sys.stderr)
            return 2
        rc = run_mutmut(functions, args.jobs, fresh=not args.only)
        print(f"mutmut finished in {(time.monotonic() - start) / 60:.1f} min (exit {rc}; its log is mutants.log)")
        if rc != 0:
            print(Path(ROOT / "mutants.log").read_text(encoding="utf-8", errors="replace")[-3000:], file=sys.stderr)
            return 2
    return report(cfg)


if __name__ == "__main__":
    sys.exit(main())
