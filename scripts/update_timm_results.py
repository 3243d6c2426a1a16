#!/usr/bin/env python
"""Copy timm's published evaluation tables into bench/resources/timm_results/, pinned at one commit.

timm publishes its own ImageNet-1k, ReaL, ImageNetV2, -A, -R and -Sketch results as CSV files under
`results/` of huggingface/pytorch-image-models. We ship those files whole and byte-for-byte, and write
`PIN.json` beside them: repository, full commit sha, commit date, the branch whose first-parent history
holds the commit, and the sha256 of every copied file (tests check the copies against it).

Reads a local clone or bare repository with git: no network. Usage:

    scripts/update_timm_results.py --repo /path/to/pytorch-image-models [--commit SHA] [--out DIR]

Without --commit, the newest commit on the first-parent history of --branch (main) that changed one of
the result files is used. A commit that is not on that history (a pull-request merge ref) is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

REPO_URL = "https://github.com/huggingface/pytorch-image-models"
# The evaluation tables, as named in timm's results/README.md; the -clean files are ImageNet-1k val
# restricted to the 200 classes of ImageNet-A / -R, the baseline timm compares those two against.
FILES = (
    "results-imagenet.csv",
    "results-imagenet-real.csv",
    "results-imagenetv2-matched-frequency.csv",
    "results-imagenet-a.csv",
    "results-imagenet-a-clean.csv",
    "results-imagenet-r.csv",
    "results-imagenet-r-clean.csv",
    "results-sketch.csv",
)
PIN_NAME = "PIN.json"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "bench" / "resources" / "timm_results"


def _git(repo: Path, *args: str) -> bytes:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"git {' '.join(args)} failed in {repo}: {e.stderr.decode(errors='replace').strip()}") from None


def first_parent_history(repo: Path, branch: str, paths: tuple[str, ...] = ()) -> list[str]:
    """Commits on the first-parent history of `branch`, newest first, optionally only those touching `paths`."""
    out = _git(repo, "rev-list", "--first-parent", branch, *(["--", *paths] if paths else []))
    return out.decode().split()


def resolve_commit(repo: Path, branch: str, commit: str | None) -> str:
    """The full sha to pin: the given one (which must be on `branch`'s first-parent line), or the newest
    first-parent commit that changed a result file."""
    history = first_parent_history(repo, branch)
    if commit is None:
        touching = first_parent_history(repo, branch, tuple(f"results/{f}" for f in FILES))
        if not touching:
            raise SystemExit(f"no commit on {branch} changes results/*.csv")
        return touching[0]
    full = _git(repo, "rev-parse", "--verify", f"{commit}^{{commit}}").decode().strip()
    if full not in set(history):
        raise SystemExit(f"{full} is not on the first-parent history of {branch} (a pull-request ref?): pin a {branch} commit")
    return full


def update(repo: Path, out: Path, commit: str | None = None, branch: str = "main", repo_url: str = REPO_URL) -> dict:
    """Write the result files of `commit` and PIN.json into `out`; returns the pin."""
    sha = resolve_commit(repo, branch, commit)
    date = _git(repo, "show", "-s", "--format=%cI", sha).decode().strip()
    out.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name in FILES:
        data = _git(repo, "show", f"{sha}:results/{name}")
        (out / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    pin = {"repo": repo_url, "branch": branch, "commit": sha, "date": date, "path": "results/", "sha256": digests}
    (out / PIN_NAME).write_text(json.dumps(pin, indent=1) + "\n", encoding="utf-8")
    return pin


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repo", required=True, type=Path, help="local clone or bare repo of huggingface/pytorch-image-models")
    p.add_argument("--commit", help="commit to pin (default: newest first-parent commit of --branch that changed results/)")
    p.add_argument("--branch", default="main")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    pin = update(args.repo, args.out, args.commit, args.branch)
    print(f"pinned {pin['repo']} @ {pin['commit']} ({pin['date']}): {len(pin['sha256'])} files -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
