"""The "eval walk": which of vzoo's own files `vzoo eval <detection row> --random-init` passes
through, from the command line to the stored number, and how often it turns back or climbs.

The command runs in this process under `sys.setprofile`, on a synthetic COCO set
(`vzoo data synth-coco`, 2 images) scaled to 128 px. Only calls *into* vzoo's own functions are
looked at (not module bodies run by imports, nor what they call); a call's caller is the nearest
vzoo frame below it (a vzoo layer that mmdet/mmengine builds or calls back counts as called from
the vzoo code that handed it over).

The walk is the sequence of distinct file-to-file call edges, in the order first taken:

- files: vzoo files entered; folders: their top-level folders (the rooms, `vzoo` for the root);
- returns: edges into a file the walk had already entered (and left) through another edge;
- climbs: edges from a lower layer into a higher one (kernels < core < hub < zoo <
  flops | speed | evaluation < workflows < cli; the `vzoo` facade on top); `sideways` counts
  edges between sibling rooms.

Run it with the vzoo to measure importable (an editable install, or PYTHONPATH to a link):

    python benchmarks/call_walk.py [ROW] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

LAYERS = {
    "settings": -1, "kernels": 0, "core": 1, "hub": 2, "zoo": 3,
    "flops": 4, "speed": 4, "evaluation": 4, "workflows": 5, "cli": 6, "vzoo": 7,
}  # fmt: skip
NOT_PACKAGED = ("tests/", "benchmarks/", "examples/")  # in the checkout, not in the package
# A small, fast test: the images are scaled to 128 px and the heads keep few boxes.
SMALL_RUN = (
    "test_dataloader.dataset.pipeline.1.scale=(128,128)",
    "model.test_cfg.rpn.max_per_img=50",
    "model.test_cfg.rcnn.max_per_img=20",
)


class Walk:
    """Records the distinct (caller file, callee file) edges between vzoo's files."""

    def __init__(self, package_dirs: list[str]) -> None:
        self.prefixes = tuple(d.rstrip("/") + "/" for d in package_dirs)
        self.edges: list[tuple[str, str]] = []
        self._seen: set[tuple[str, str]] = set()
        self.entered: list[str] = []

    def _own(self, filename: str) -> str | None:
        for prefix in self.prefixes:
            if filename.startswith(prefix):
                rel = filename[len(prefix) :]
                return None if rel.startswith(NOT_PACKAGED) else rel
        return None

    def profile(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call" or frame.f_code.co_name == "<module>":
            return  # imports run module bodies: the walk follows what the command calls
        callee = self._own(frame.f_code.co_filename)
        if callee is None or callee.startswith("zoo/configs/"):  # configs are data mmengine reads
            return
        back = frame.f_back
        if (
            back is not None
            and back.f_code.co_name == "<module>"
            and self._own(back.f_code.co_filename)
        ):
            return  # called by a module body while it is imported
        if callee not in self.entered:
            self.entered.append(callee)
        caller_frame = frame.f_back
        while caller_frame is not None:
            caller = self._own(caller_frame.f_code.co_filename)
            if caller is not None:
                if caller != callee and (caller, callee) not in self._seen:
                    self._seen.add((caller, callee))
                    self.edges.append((caller, callee))
                return
            caller_frame = caller_frame.f_back

    def summary(self) -> dict[str, Any]:
        files = list(self.entered)
        folders = sorted({folder(f) for f in files})
        returns, climbs, sideways = [], [], []
        entered: set[str] = set()
        first = files[0] if files else None
        if first is not None:
            entered.add(first)
        for caller, callee in self.edges:
            if callee in entered:
                returns.append(f"{caller} -> {callee}")
            entered.add(callee)
            low, high = LAYERS[folder(caller)], LAYERS[folder(callee)]
            if high > low:
                climbs.append(f"{caller} -> {callee}")
            elif high == low and folder(caller) != folder(callee):
                sideways.append(f"{caller} -> {callee}")
        return {
            "files": len(files), "folders": len(folders), "folder_names": folders,
            "edges": len(self.edges), "returns": len(returns), "climbs": len(climbs),
            "sideways": len(sideways), "file_list": files, "return_list": returns,
            "climb_list": climbs, "sideways_list": sideways,
        }  # fmt: skip


def folder(rel: str) -> str:
    """The layer a file is in: its top-level folder; `settings` (below every layer) or the
    `vzoo` facade for the root's own modules."""
    if "/" in rel:
        return rel.split("/", 1)[0]
    return "settings" if rel == "settings.py" else "vzoo"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("row", nargs="?", default="mlla-t-1x", help="a detection row id")
    parser.add_argument("--json", type=Path, help="write the summary here")
    args = parser.parse_args()

    import vzoo
    from vzoo.cli.main import run

    package = Path(vzoo.__file__).parent
    dirs = sorted({str(package), str(package.resolve())})
    with tempfile.TemporaryDirectory(prefix="vzoo-walk-") as tmp:
        home, data = Path(tmp) / "home", Path(tmp) / "coco"
        os.environ["VZOO_HOME"] = str(home)
        try:  # the data set is made before the walk starts: it is not part of it
            run(["data", "synth-coco", str(data), "--images", "2"])
        except SystemExit as e:
            if e.code:
                return int(e.code)
        walk = Walk(dirs)
        argv = ["eval", args.row, "--random-init", "--data-root", str(data), "--workers", "0",
                "--work-dir", str(Path(tmp) / "work")]  # fmt: skip
        for option in SMALL_RUN:
            argv += ["--cfg-options", option]
        code = 0
        sys.setprofile(walk.profile)
        try:
            run(argv)
        except SystemExit as e:
            code = int(e.code or 0)
        finally:
            sys.setprofile(None)
    summary = walk.summary()
    print(f"vzoo at {package.resolve()}: eval {args.row} --random-init (exit {code})")
    print(
        f"files {summary['files']} in {summary['folders']} folders "
        f"({', '.join(summary['folder_names'])}), returns {summary['returns']}, "
        f"climbs {summary['climbs']}, sideways {summary['sideways']} "
        f"({summary['edges']} distinct file-to-file calls)"
    )
    for key in ("return_list", "climb_list", "sideways_list"):
        for edge in summary[key]:
            print(f"  {key.split('_')[0]}: {edge}")
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
