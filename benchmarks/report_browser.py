"""The html report in a real browser: headless Chromium loads it, and its figures are counted.

A documented check (CI installs no browser; tests/test_figures.py checks the same structure in
the SVG that vzoo writes). It:

1. measures a few things for real into a fresh results store (`vzoo flops` on the smallest
   classifier of each family and a SparX detector, whose README prints no FLOPs; `vzoo bench` on
   the classifiers), unless `--home` names an existing vzoo home to report on as it is;
2. writes `vzoo compare --report html` and `vzoo compare --plot`;
3. loads the report in headless Chromium, takes the DOM the browser built (`--dump-dom`) and a
   screenshot, and checks every figure in that DOM: one curve per family (per series of the
   chart's data), each in the legend once;
4. writes reports/report_browser.md (and the screenshot beside it).

    apt-get install -y chromium        # Debian's package
    python benchmarks/report_browser.py [--home DIR] [--out reports/report_browser.md]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import vzoo as package
from vzoo.core.files import write_text_atomic
from vzoo.core.report import charts_for

ROOT = Path(__file__).resolve().parents[1]
CLASSIFIERS = ["mlla-t", "msvmamba-nano", "sparx-mamba-t", "spatial-mamba-t"]
DETECTORS = ["sparx-mamba-t-1x"]  # no published FLOPs: its COCO point comes from this measurement
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--hide-scrollbars",
]  # fmt: skip


def vzoo(args: list[str], home: Path) -> str:
    """Run the installed vzoo (this checkout, once installed editable) with `home` as its home."""
    env = {**os.environ, "VZOO_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "vzoo.cli.main", *args],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"vzoo {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


class FigureCounter(HTMLParser):
    """Per <figure data-chart>: the series drawn (a curve, or a baseline's level) and the legend
    texts, from the DOM the browser built."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, dict[str, list[str]]] = {}
        self._figure: str | None = None
        self._legend_depth = 0  # >0 inside <g id="legend">
        self._text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "figure" and a.get("data-chart"):
            self._figure = a["data-chart"]
            self.figures[self._figure] = {"curves": [], "legend": []}
        elif self._figure and tag == "g":
            gid = a.get("id") or ""
            if m := re.fullmatch(r"series-(.+)-(?:curve|level)", gid):
                self.figures[self._figure]["curves"].append(m.group(1))
            if self._legend_depth:
                self._legend_depth += 1
            elif gid == "legend":
                self._legend_depth = 1
        elif tag == "text" and self._legend_depth:
            self._text = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None
        elif tag == "g" and self._legend_depth:
            self._legend_depth -= 1
        elif tag == "text":
            self._text = False

    def handle_data(self, data: str) -> None:
        if self._text and self._figure and data.strip():
            self.figures[self._figure]["legend"].append(data.strip())


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise SystemExit("no chromium: apt-get install -y chromium")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="report on this vzoo home's store as it is")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "report_browser.md")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vzoo-report-browser-"))
    home = args.home or work / "home"
    timings: list[str] = []
    if args.home is None:
        for cmd in (["flops", *CLASSIFIERS, *DETECTORS], ["bench", *CLASSIFIERS]):
            start = time.perf_counter()
            vzoo(cmd, home)
            timings.append(f"`vzoo {' '.join(cmd)}`: {time.perf_counter() - start:.0f} s")
    report = work / "report.html"
    vzoo(["compare", "--report", "html", "--out", str(report)], home)
    vzoo(["compare", "--plot", str(work / "figures")], home)

    browser = chromium()
    version = subprocess.run([browser, "--version"], capture_output=True, text=True).stdout
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={work / 'profile'}"]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    # Screenshots: the report as it is (its top), and the same page with its tables left out, so
    # that every figure is in view at once.
    figures_only = work / "report-figures.html"
    tables_and_notes = r"<table>.*?</table>|<ol class='notes'>.*?</ol>"
    page_text = report.read_text(encoding="utf-8")
    figures_only.write_text(re.sub(tables_and_notes, "", page_text, flags=re.S), encoding="utf-8")
    shots = []
    for page, suffix, height in ((report, "", 1300), (figures_only, "-figures", 3300)):
        shot = args.out.with_name(f"{args.out.stem}{suffix}.png")
        subprocess.run(
            [browser, *flags, f"--window-size=1500,{height}", f"--screenshot={shot}",
             page.as_uri()],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
        shots.append(f"`{shot.name}`")

    # What each figure must show: the chart data, computed from the same store.
    os.environ["VZOO_HOME"] = str(home)
    frame = package.compare_frame()
    charts = charts_for(frame)
    measured = frame[frame["measured"].notna()]
    counter = FigureCounter()
    counter.feed(dom)
    lines = [
        "# The html report in headless Chromium",
        "",
        f"`python benchmarks/report_browser.py` ({version.strip()}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}).",
        "",
        f"Measurements: the store of `--home {args.home}` as it was."
        if args.home
        else "Measurements: a fresh store, filled for this check:",
        *[f"- {t}" for t in timings],
        "",
        f"{len(measured)} measured numbers in it: "
        + "; ".join(
            f"{rid} ({', '.join(part['metric'])})"
            for rid, part in measured.groupby("id", sort=False)
        )
        + ".",
        "",
        f"The browser's DOM holds {len(counter.figures)} figures (the chart data: {len(charts)}).",
        "",
        "| figure | series (curves in the DOM) | legend | check |",
        "|---|---|---|---|",
    ]
    failures = 0
    for chart in charts:
        seen = counter.figures.get(chart.key, {"curves": [], "legend": []})
        expected = [s.key for s in chart.series]
        labels = [s.label for s in chart.series]
        # a series may draw both a curve and levels (SparX: T counted, S and B not): one series
        drawn = list(dict.fromkeys(seen["curves"]))
        ok = sorted(drawn) == sorted(expected) and seen["legend"][: len(labels)] == labels
        failures += not ok
        lines.append(
            f"| {chart.key} | {', '.join(drawn)} | {'; '.join(seen['legend'])} "
            f"| {'ok' if ok else 'MISMATCH'} |"
        )
    lines += [
        "",
        f"Screenshots (the report's top; the report without its tables): {', '.join(shots)}.",
        "",
    ]
    write_text_atomic(args.out, "\n".join(lines))
    print("\n".join(lines))
    print(f"figures and report in {work}")
    if failures or len(counter.figures) != len(charts):
        raise SystemExit(f"{failures} figure(s) do not show one curve per series")


if __name__ == "__main__":
    main()
