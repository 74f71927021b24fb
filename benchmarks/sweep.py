"""Cost against input size on this CPU: `vzoo bench --sweep` of the four T models and mmdet's
Swin-T and ResNet-50, written to reports/sweep_cpu.md and its figure (PNG and SVG).

    python benchmarks/sweep.py [--sizes 224,384,512,768,1024] [--part backbone]
        [--rows mlla-t,...] [--warmup 1] [--iters 3] [--out reports/sweep_cpu.md]
    python benchmarks/sweep.py --render reports/sweep_cpu.json   # re-render, measure nothing

Part `backbone` by default: the classifiers' detection backbones (4 maps out) and the baselines'
backbones take every size, where MLLA's classifier is built for 224² alone. The measurement is
`vzoo bench --sweep`'s own (`speed.run.sweep_rows`): each row at every size, one row after the
other; the records go to a private results store (not the user's) and, as `vzoo bench --format
json` prints them, to OUT.json beside the report (`--render` redraws from it). The report states
the load average before and after (`uptime`); the timings the bench flags (load above the core
count, passes disagreeing) are marked in the tables and hollow in the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vzoo.speed.stability import settle_wait_policy

settle_wait_policy()  # before torch loads (libgomp reads it once)

from vzoo.core.files import write_text_atomic  # noqa: E402
from vzoo.core.registry import load_registry  # noqa: E402
from vzoo.core.sweep import build_sweeps, sweep_markdown  # noqa: E402

ROWS = (
    "mlla-t", "spatial-mamba-t", "msvmamba-tiny", "sparx-mamba-t",
    "mmdet:mask-rcnn_swin-t-p4-w7_fpn_1x_coco", "mmdet:mask-rcnn_r50_fpn_1x_coco",
)  # fmt: skip
REPO = Path(__file__).resolve().parents[1]


def uptime() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min)"


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the sweep; what the report is rendered from (and kept beside it as json)."""
    os.environ.setdefault("VZOO_HOME", tempfile.mkdtemp(prefix="vzoo-sweep-"))
    from vzoo.speed.protocol import parse_sweep
    from vzoo.speed.run import BenchOptions, sweep_rows

    registry = load_registry()
    rows = [registry.get(r) for r in args.rows.split(",")]
    opts = BenchOptions(part=args.part, warmup=args.warmup, iters=args.iters)
    load_before, started = uptime(), time.perf_counter()
    run = sweep_rows(
        rows, opts, parse_sweep(args.sizes), on_row=lambda r: print(f"sweep {r.id} ...", flush=True)
    )
    seconds, load_after = time.perf_counter() - started, uptime()
    results = [res for s in run.results for res in s.results]
    return {
        "command": f"python benchmarks/sweep.py --sizes {args.sizes} --part {args.part} "
        f"--warmup {args.warmup} --iters {args.iters}",
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": seconds, "load_before": load_before, "load_after": load_after,
        "cores": results[0].cores if results else None, "rows": [r.id for r in rows],
        "records": [rec for res in results for rec in res.records()],
        "failures": [f for s in run.results for f in s.failures] + run.failures,
    }  # fmt: skip


def render(data: dict[str, Any], out: Path, records_file: Path) -> None:
    """reports/sweep_cpu.md and its figure from `measure`'s data (kept in `records_file`)."""
    from vzoo.core.sweep_plot import save_sweep

    registry = load_registry()
    sweeps = build_sweeps([registry.get(r) for r in data["rows"]], data["records"])
    loaded = any(rec["caveats"] for rec in data["records"])
    lines = [
        "# Cost against input size, CPU (`vzoo bench --sweep`)",
        "",
        f"`{data['command']}`, {data['finished']}, {data['seconds']:.0f} s; the records: "
        f"[{records_file.name}]({records_file.name}).",
        "",
        f"Machine: before the run {data['load_before']}; after it {data['load_after']}; "
        f"{data['cores']} cores. "
        + (
            "**The machine was loaded (shared with other jobs): the timings the bench flagged "
            "are marked below and hollow in the figure; exponents from them are indicative "
            "only. Rerun on a quiet machine for the record.**"
            if loaded
            else "No timing was flagged (load below the core count, passes agreeing)."
        ),
        "",
        "Exponent: least-squares slope of log(value) against log(H×W) over the measured sizes; "
        "1 is linear in the pixel count (the papers' linear-complexity claim), 2 quadratic. "
        "Time is the median pass; memory the growth of the process's resident set during the "
        "timed loop (the forward's working memory as the OS sees it).",
        "",
    ]
    stem = out.with_suffix("").name
    for sweep in sweeps:
        figure = stem if len(sweeps) == 1 else f"{stem}-{sweep.key}"
        lines += [f"![{sweep.title}]({figure}.png) ([SVG]({figure}.svg))", ""]
        lines += [*sweep_markdown(sweep), ""]
        save_sweep(sweep, out.parent / figure)
    if data["failures"]:
        lines += ["## Not measured", "", *[f"- {f}" for f in data["failures"]], ""]
    write_text_atomic(out, "\n".join(lines))
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="224,384,512,768,1024")
    ap.add_argument("--part", default="backbone", choices=("model", "backbone"))
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "sweep_cpu.md")
    ap.add_argument(
        "--render", type=Path, metavar="JSON",
        help="Measure nothing: render the report from a previous run's records (OUT.json).",
    )  # fmt: skip
    args = ap.parse_args(argv)
    records_file = args.render or args.out.with_suffix(".json")
    if args.render is not None:
        data = json.loads(args.render.read_text())
    else:
        data = measure(args)
        write_text_atomic(records_file, json.dumps(data, indent=1) + "\n")
    render(data, args.out, records_file)
    return 1 if data["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
