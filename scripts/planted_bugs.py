"""Planted bugs: each of the 14 bugs the test-quality issue named must be caught by its named test.

    python scripts/planted_bugs.py                 # every case, 2 at a time
    python scripts/planted_bugs.py --only rgba     # the cases whose name contains "rgba"

Each case copies bench/, tests/ and pyproject.toml into a fresh temporary directory, plants ONE bug
there and runs only the named test(s) with pytest. A case is caught when pytest exits 1 (tests
failed); 0 (passed), 2 (interrupted: the planted code does not even import), 4, 5 or a timeout are
misses. The named tests must first pass on an unmodified copy, or a failure would mean nothing.

Each bug is an exact text replacement (`old` -> `new`), not a generated mutant: it reads as the
plausible one-line mistake the issue described, and `old` must occur exactly once in its file, so a
refactor that moves the code makes the case fail loudly (exit 2) instead of planting nothing and
counting as caught. tests/test_planted_bugs.py checks the same in the normal suite.

Exit status: 0 when every selected case is caught, 1 when one is missed, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPY = ("bench", "tests", "pyproject.toml")
TIMEOUT_S = 300  # a planted endless loop must count as a miss, not hang the run
PYTEST_EXIT = {
    0: "tests passed",
    2: "interrupted (collection or import error)",
    3: "pytest internal error",
    4: "usage error",
    5: "no tests ran",
}


@dataclass(frozen=True)
class Case:
    name: str
    path: str  # relative to the repository root
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids


SCORING = "tests/test_core_scoring.py::"
EFFICIENCY = "tests/test_core_efficiency.py::"
TRANSFORMS = "tests/test_core_transforms.py::"
REPORT = "tests/test_core_report.py::"
IDENTITY = "tests/test_core_identity.py::"
CANONICAL = "        return {k: v for k, v in self.to_json().items() if v is not None}"

CASES: tuple[Case, ...] = (
    Case(
        "full-top5-unmapped-hit",
        "bench/measure/evaluate.py",
        "hit5 = (top == tgt[:, None]).any(axis=1) & (tgt >= 0) if n",
        "hit5 = (top == tgt[:, None]).any(axis=1) if n",
        (SCORING + "test_summarize_full_protocol_ignores_unmapped_targets_in_padding",),
    ),
    Case(
        "restricted-nll-by-class",
        "bench/measure/evaluate.py",
        "-r_logp.gather(1, t_r.clamp(min=0)[:, None])",
        "-r_logp.gather(1, y.clamp(min=0)[:, None])",
        (SCORING + "test_restricted_nll_uses_the_restricted_column",),
    ),
    Case(
        "real-every-prediction-hits",
        "bench/measure/evaluate.py",
        "hits += int(top >= 0 and model_to_inet[top] in valid)",
        "hits += int(top >= 0)",
        (SCORING + "test_real_accuracy_counts_only_predictions_in_the_label_set",),
    ),
    Case(
        "throughput-without-batch",
        "bench/measure/efficiency.py",
        "img_s = thr.repeats.rates(per_step=thr.batch)",
        "img_s = thr.repeats.rates()",
        (EFFICIENCY + "test_throughput_and_latency_percentiles_from_a_scripted_clock",),
    ),
    Case(
        "latency-percentile-position",
        "bench/measure/timing.py",
        "np.percentile(np.asarray(values, dtype=float), qs)",
        'np.percentile(np.asarray(values, dtype=float), qs, method="nearest")',
        (
            EFFICIENCY + "test_percentile_is_numpys_linear_percentile",
            EFFICIENCY + "test_throughput_and_latency_percentiles_from_a_scripted_clock",
        ),
    ),
    Case(
        "oom-backoff-never-halves",
        "bench/measure/efficiency.py",
        "        batch //= 2\n",
        "        batch // 2\n",
        (EFFICIENCY + "test_oom_backoff_halves_until_it_fits",),
    ),
    Case(
        "fixed-policy-bicubic",
        "bench/data/transforms.py",
        '"interpolation": "bilinear",',
        '"interpolation": "bicubic",',
        (TRANSFORMS + "test_fixed_policy_is_the_classic_bilinear_256_224",),
    ),
    Case(
        "rgba-on-black",
        "bench/data/images.py",
        'return img if img.mode == "RGB" else img.convert("RGB")',
        'return img if img.mode == "RGB" else Image.alpha_composite(Image.new("RGBA", img.size, "black"), img.convert("RGBA")).convert("RGB")',
        (TRANSFORMS + "test_rgba_decodes_like_the_reference_loaders",),
    ),
    Case(
        "check-ignores-targets",
        "bench/report/regress.py",
        'k = int((base.samples["target"] != cur.samples["target"]).sum())',
        'k = int((base.samples["target"] != base.samples["target"]).sum())',
        (REPORT + "test_changed_targets_are_not_comparable",),
    ),
    Case(
        "delta-ignores-split",
        "bench/models/reference.py",
        "if (run.dataset, run.split) != (fig.dataset, fig.split):",
        "if run.dataset != fig.dataset:",
        (REPORT + "test_delta_only_on_imagenet_validation_with_pretrained_weights",),
    ),
    Case(
        "weights-checksum-no-bytes",
        "bench/models/weights.py",
        "h.update(t.numpy().tobytes())",
        "h.update(str((t.dtype, tuple(t.shape))).encode())",
        ("tests/test_models.py::test_weights_checksum_covers_every_tensor_byte",),
    ),
    Case(
        "checkpoints-share-a-key",
        "bench/store/schema.py",
        CANONICAL,
        CANONICAL.replace("if v is not None", 'if v is not None and k != "weights_digest"'),
        (IDENTITY + "test_two_checkpoint_files_never_share_a_key",),
    ),
    Case(
        "transform-not-in-key",
        "bench/store/schema.py",
        CANONICAL,
        CANONICAL.replace("if v is not None", 'if v is not None and k != "transform"'),
        (IDENTITY + "test_every_key_field_changes_the_path", IDENTITY + "test_transform_policy_is_part_of_the_stored_name"),
    ),
    Case(
        "devkit-ids-swapped",
        "bench/resources/ilsvrc2012_id_to_wnid.txt",
        "n01644373\nn01644900\n",  # IDs 500 and 501 (tree frog, tailed frog)
        "n01644900\nn01644373\n",
        ("tests/test_core_labels.py::test_devkit_id_table_is_the_official_one",),
    ),
)


class SetupError(Exception):
    pass


def copy_project(dest: Path) -> None:
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)


def planted(case: Case, root: Path = ROOT) -> str:
    """The case's file under `root` with the bug planted; SetupError unless `old` occurs exactly once."""
    text = (root / case.path).read_text(encoding="utf-8")
    count = text.count(case.old)
    if count != 1 or case.new == case.old:
        raise SetupError(
            f"{case.name}: the old text occurs {count} times in {case.path} (must be once, new != old): the case is stale"
        )
    return text.replace(case.old, case.new)


def verdict(code: int | None) -> str:
    return f"timeout after {TIMEOUT_S} s" if code is None else PYTEST_EXIT.get(code, f"pytest exit {code}")


def pytest_in(root: Path, tests: tuple[str, ...] | list[str]) -> tuple[int | None, str]:
    """(exit code, output) of pytest on `tests` inside `root`; None for a timeout."""
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, ""
    return done.returncode, done.stdout + done.stderr


def run_case(case: Case) -> tuple[bool, str]:
    """(caught, why) for one case in its own fresh copy."""
    with tempfile.TemporaryDirectory(prefix=f"planted-{case.name}-") as tmp:
        root = Path(tmp)
        copy_project(root)
        (root / case.path).write_text(planted(case, root), encoding="utf-8")
        code, _ = pytest_in(root, case.tests)
    return code == 1, verdict(code)


def baseline(cases: list[Case]) -> None:
    """Every named test passes on an unmodified copy, which imports bench from the copy."""
    tests = list(dict.fromkeys(t for c in cases for t in c.tests))
    with tempfile.TemporaryDirectory(prefix="planted-baseline-") as tmp:
        root = Path(tmp)
        copy_project(root)
        env = {**os.environ, "PYTHONPATH": str(root)}
        where = subprocess.run(
            [sys.executable, "-c", "import bench; print(bench.__file__)"], cwd=root, env=env, capture_output=True, text=True
        )
        if where.returncode or not Path(where.stdout.strip()).resolve().is_relative_to(root.resolve()):
            raise SetupError(f"the copy does not import its own bench (got {where.stdout.strip() or where.stderr.strip()})")
        code, out = pytest_in(root, tests)
    if code != 0:
        raise SetupError(f"the named tests do not pass unmodified ({verdict(code)}):\n{out[-4000:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="run only the cases whose name contains this")
    ap.add_argument("--jobs", type=int, default=2, help="cases run in parallel (default 2)")
    args = ap.parse_args(argv)
    cases = [c for c in CASES if args.only is None or args.only in c.name]
    if not cases:
        print(f"no case matches {args.only!r}", file=sys.stderr)
        return 2
    start = time.monotonic()
    try:
        for case in cases:  # every case applies before anything runs
            planted(case)
        baseline(cases)
        caught = 0
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for case, (ok, why) in zip(cases, pool.map(run_case, cases)):
                caught += ok
                tests = " ".join(case.tests)
                print(f"caught  {case.name}  {tests}" if ok else f"MISSED  {case.name}  {tests}  ({why})", flush=True)
    except SetupError as err:
        print(f"setup error: {err}", file=sys.stderr)
        return 2
    print(f"planted bugs caught: {caught} / {len(cases)}  ({time.monotonic() - start:.0f} s)")
    return 0 if caught == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
