#!/usr/bin/env python3
"""Plot the competing-flow scenario: uTP against a NewReno flow (with SACK) on one bottleneck.

Reads the CSV that `target_yield_to_newreno` (tests/scenarios/competing.rs) writes, 100 ms bins,
and draws two panels over time: the throughput of both flows against the link rate, and the
queueing delay at the bottleneck beside the one uTP's LEDBAT estimates, with LEDBAT's target.

    cargo test --release --features sim --test scenarios target_yield_to_newreno
    python3 scripts/plot-competing.py            # writes docs/competing-flow.png

Without matplotlib, the script creates a virtual environment under the cargo target directory,
installs matplotlib there with pip, and runs itself again with it.
"""

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
VENV = TARGET / "plot-venv"
LINK_MBIT = 100.0  # The scenario's bottleneck: 100 Mbit/s.
# The engine's default Config::target_delay (RFC 6817 section 2.5 caps TARGET at 100 ms).
LEDBAT_TARGET_MS = 100.0


def ensure_matplotlib():
    """Imports matplotlib, or re-runs this script from a venv that has it."""
    try:
        import matplotlib  # noqa: F401

        return
    except ImportError:
        pass
    if os.environ.get("RUTP_PLOT_IN_VENV"):
        sys.exit("matplotlib is still missing inside " + str(VENV))
    python = VENV / "bin" / "python3"
    if not python.exists():
        print(f"creating {VENV} with matplotlib", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "matplotlib"], check=True
        )
    env = dict(os.environ, RUTP_PLOT_IN_VENV="1")
    sys.exit(subprocess.run([str(python), __file__, *sys.argv[1:]], env=env).returncode)


def read(path):
    """Columns of the CSV as lists of floats (an empty cell is None)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{path} has no rows")
    return {
        key: [float(r[key]) if r[key] != "" else None for r in rows] for key in rows[0]
    }


def active_span(t, active, bin_s):
    """(start, end) in seconds of the bins where the NewReno flow was active."""
    on = [ti for ti, a in zip(t, active) if a]
    return (on[0] - bin_s, on[-1]) if on else None


def plot(data, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = data["t_s"]
    bin_s = t[1] - t[0] if len(t) > 1 else 0.1
    span = active_span(t, data["newreno_active"], bin_s)
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 7))
    top.step(t, data["utp_mbit_s"], where="post", label="uTP (LEDBAT)")
    top.step(t, data["newreno_mbit_s"], where="post", label="NewReno with SACK")
    top.axhline(LINK_MBIT, color="grey", linestyle=":", label="link rate")
    top.set_ylabel("throughput, payload (Mbit/s, 100 ms bins)")
    top.set_ylim(0, LINK_MBIT * 1.3)
    bottom.plot(t, data["bottleneck_queue_delay_ms"], label="bottleneck queue (simulator)")
    bottom.plot(t, data["utp_queuing_delay_ms"], label="uTP's own estimate")
    bottom.axhline(
        LEDBAT_TARGET_MS, color="grey", linestyle="--", label="LEDBAT target (100 ms)"
    )
    bottom.set_ylabel("queueing delay (ms)")
    bottom.set_xlabel("time (s)")
    for ax in (top, bottom):
        if span:
            ax.axvspan(*span, color="orange", alpha=0.12, label="NewReno running")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
    top.set_title(
        "uTP vs a NewReno+SACK flow on one 100 Mbit/s bottleneck, 20 ms RTT, 250 ms queue (simulator)"
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=TARGET / "competing-flow.csv")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "competing-flow.png")
    args = parser.parse_args()
    if not args.csv.exists():
        sys.exit(
            f"{args.csv} not found: run `cargo test --release --features sim --test scenarios "
            "target_yield_to_newreno` first"
        )
    ensure_matplotlib()
    plot(read(args.csv), args.out)


if __name__ == "__main__":
    main()
