"""Small registry files for the download tests, pointing rows at loopback URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _flow_list(items: list[str]) -> str:
    return "[" + ", ".join(repr(u) for u in items) + "]"


def write_registry(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A small registry file with real-looking rows (and comments, which `pin` must keep).

    Each row dict: id, urls (None: `weights: null`), and optionally mirrors, sha256, size,
    filename, kind, task ("classification" or "detection").
    """
    out = ["# test registry: comments must survive `vzoo registry pin`", "rows:"]
    for r in rows:
        detection = r.get("task") == "detection"
        out += [
            f"  - id: {r['id']}  # row comment",
            "    family: mlla",
            "    arch: mlla-t",
            f"    task: {'detection' if detection else 'classification'}",
            f"    dataset: {'coco2017' if detection else 'imagenet-1k'}",
            f"    method: {'mask-rcnn' if detection else 'classifier'}",
            "    schedule: 300e",
            "    config: null",
        ]
        if r.get("urls") is None:
            out.append("    weights: null")
        else:
            out += ["    weights:", f"      urls: {_flow_list(r['urls'])}  # as published"]
            if r.get("mirrors"):
                out.append(f"      mirrors: {_flow_list(r['mirrors'])}")
            for key in ("sha256", "size", "filename", "kind"):
                if r.get(key) is not None:
                    out.append(f"      {key}: {r[key]}")
        out += [
            "    pretrain: null",
            f"    published: {{{'box_ap: 46.8' if detection else 'top1: 83.5'}}}",
            "    provenance:",
            "      seed: 001_31712cf740ca7fb9.txt",
            "      repo: LeapLabTHU/MLLA",
            "      paper: https://arxiv.org/abs/2405.16605",
        ]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
