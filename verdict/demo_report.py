"""The demo's report: a summary on the terminal, ``report.json`` and ``report.md`` on disk,
the latter showing the plots drawn next to it (:mod:`verdict.demo_plots`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from verdict.demo_outputs import Outputs

#: Published reference points, for scale.
PEERS = "Stripe Radar < 100 ms, FICO Falcon 40-60 ms, Tazama per-stage p99 12-56 ms"
#: What each plot of the demo shows, by file name.
PLOT_TITLES = {
    "latency.png": "latency: inline requests and the engine's time per decision",
    "decisions.png": "decisions per second while the week was replayed",
    "quality.png": "ROC and precision-recall curves of the week's scores",
}


def _lines(report: dict[str, Any], outputs: Outputs) -> list[tuple[str, str]]:
    stream, inline, quality = report["stream"], report["inline"], report["quality"]
    outcomes = ", ".join(f"{k} {v:,}" for k, v in Counter(stream["outcomes"]).most_common())
    alerts = ", ".join(f"{k} {v:,}" for k, v in Counter(stream["alerts"]).most_common())
    triggers = ", ".join(f"{k} {v:,}" for k, v in Counter(stream["triggers"]).most_common())
    rows = [
        (
            "replayed",
            f"{sum(report['replay']['published'].values()):,} events at "
            f"{report['replay']['events_per_s']:,}/s",
        ),
        (
            "decided",
            f"{stream['decisions']:,} of {report['transactions']:,} transactions, "
            f"{stream['decided_per_s']:,}/s by one worker",
        ),
        (
            "engine time",
            f"p50 {stream['engine_latency_ms']['p50']:.2f} ms, "
            f"p99 {stream['engine_latency_ms']['p99']:.2f} ms per decision "
            "(features, scores, policy, caps; in its micro-batch)",
        ),
        (
            "inline API",
            f"{inline['requests']} requests, client p50 "
            f"{inline['client_latency_ms']['p50']:.2f} ms, p99 "
            f"{inline['client_latency_ms']['p99']:.2f} ms ({PEERS})",
        ),
        ("outcomes", outcomes or "none"),
        ("alerts", alerts or "none"),
        ("triggers", triggers or "none"),
        ("dead letters", f"{stream['dead_letters']:,}"),
    ]
    if quality:
        rows.append(
            (
                "quality",
                f"fraud AUC {quality['fraud_auc']:.3f}, AP {quality['fraud_ap']:.3f}; "
                f"anomaly AUC {quality['anomaly_auc']:.3f} (learning online from day "
                "one; a full-speed replay delivers each label as soon as its decision is "
                "taken, not a day later, so this depends on timing: `verdict backtest` "
                "measures on event time)",
            )
        )
    return rows


def _examples(outputs: Outputs) -> list[str]:
    lines: list[str] = []
    severe = sorted(outputs.alerts, key=lambda a: -a["fraud_score"])[:2]
    for alert in severe:
        why = "; ".join(r["detail"] for r in alert["reasons"][:2])
        lines.append(
            f"alert {alert['severity']} ({alert['outcome']}, fraud {alert['fraud_score']:.2f}, "
            f"customer {alert['customer_ref']}): {why}"
        )
    shown: set[str] = set()
    for trigger in outputs.triggers:
        if trigger["code"] in shown:
            continue
        shown.add(trigger["code"])
        why = "; ".join(r["detail"] for r in trigger["reasons"][:1])
        offer = f", offer {trigger['offer_id']}" if trigger.get("offer_id") else ""
        lines.append(f"trigger {trigger['code']} -> {trigger['audience']}{offer}: {why}")
    return lines


def write_report(report: dict[str, Any], outputs: Outputs, out_dir: Path) -> None:
    """``report.json`` (the numbers) and ``report.md`` (the same, for people)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    md = ["# Verdict demo", "", "| | |", "|---|---|"]
    md += [f"| {name} | {text} |" for name, text in _lines(report, outputs)]
    md += ["", "## Examples", "", *[f"- {line}" for line in _examples(outputs)], ""]
    drawn = report["plots"]
    if isinstance(drawn, str):  # why there are none
        md += ["## Plots", "", drawn, ""]
    elif drawn:
        md += ["## Plots", ""]
        md += [f"![{PLOT_TITLES.get(name, name)}]({name})\n" for name in drawn]
    (out_dir / "report.md").write_text("\n".join(md))


def print_summary(
    report: dict[str, Any], outputs: Outputs, out_dir: Path, console: Console
) -> None:
    """The summary a person reads in a minute."""
    console.rule("[bold]Summary")
    table = Table(show_header=False, box=None, padding=(0, 2))
    for name, text in _lines(report, outputs):
        table.add_row(f"[bold]{name}[/bold]", text)
    console.print(table)
    for line in _examples(outputs):
        console.print(f"  - {line}")
    missing = report["transactions"] - report["stream"]["decisions"]
    if missing > 0:
        console.print(f"[red]{missing:,} transactions got no decision in time[/red]")
    console.print(
        f"Total {report['seconds']:.0f} s. Report: {out_dir / 'report.md'} "
        f"(and report.json); data: {out_dir / 'data'}/"
    )
    if isinstance(report["plots"], str):
        console.print(f"[yellow]{report['plots']}[/yellow]")
    elif report["plots"]:
        console.print("Plots: " + ", ".join(str(out_dir / name) for name in report["plots"]))
