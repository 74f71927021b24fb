"""Tables of counted params/FLOPs next to the published figures (terminal and markdown)."""

from __future__ import annotations

from vzoo.flops.run import RowFlops


def _value(r: RowFlops, convention: str) -> float:
    macs = r.report.macs
    return (2 * macs if convention == "flops" else macs) / 1e9


def _rel(measured: float, published: float | None) -> str:
    if published is None or published == 0:
        return "—"
    return f"{100 * (measured - published) / published:+.1f}%"


def _rows(results: list[RowFlops], convention: str) -> list[list[str]]:
    out = []
    for r in results:
        pub_p = r.row.published.get("params_m")
        pub_f = r.row.published.get("flops_g")
        params = r.report.params_total / 1e6
        g = _value(r, convention)
        comparable_f = pub_f if convention != "flops" else None
        c, h, w = r.input_shape
        out.append(
            [
                r.row.id,
                f"{c}x{h}x{w}",
                f"{pub_p:g}" if pub_p is not None else "—",
                f"{params:.2f}",
                _rel(params, pub_p),
                f"{pub_f:g}" if pub_f is not None else "—",
                f"{g:.2f}",
                _rel(g, comparable_f),
                ", ".join(f"{k}×{v}" for k, v in sorted(r.report.uncounted.items())) or "—",
            ]
        )
    return out


HEADER = [
    "row", "input", "params pub (M)", "params (M)", "Δ params", "FLOPs pub (G)", "FLOPs (G)",
    "Δ FLOPs", "uncounted ops",
]  # fmt: skip


def render_flops_table(results: list[RowFlops], convention: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"vzoo flops ({convention}: {'2×MACs' if convention == 'flops' else 'MACs'})"
    )
    for h in HEADER:
        table.add_column(h)
    for row in _rows(results, convention):
        table.add_row(*row)
    Console().print(table)


def render_flops_markdown(results: list[RowFlops], convention: str, failures: list[str]) -> str:
    unit = "2×MACs" if convention == "flops" else "MACs (fvcore 'flops', the papers' unit)"
    lines = [
        "# Params and FLOPs: published vs counted by `vzoo flops`",
        "",
        f"Unit: {unit}. Params: every parameter of the full model built from the row's config.",
        "Ops the papers leave out (elementwise, NMS, RoIAlign) are not counted; 'uncounted ops'",
        "lists costly ops without a handle (empty when everything that costs FLOPs is counted).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in _rows(results, convention)]
    notes = [(r.row.id, n) for r in results for n in r.row.notes]
    if notes:
        lines += ["", "## Registry notes", ""]
        lines += [f"- **{rid}**: {n}" for rid, n in notes]
    if failures:
        lines += ["", "## Failed", ""] + [f"- {f}" for f in failures]
    return "\n".join(lines) + "\n"
