"""Wall-clock seconds of each notebook in a profile (default quick), against the 3-minute budget of SPEC.md.

Every notebook runs the way ``make run`` runs it: papermill with a fresh kernel, the profile injected, outputs into
a temporary folder (or ``--out``), then the gallery. The figure that matters is the ratio to the budget (180 s per
notebook on a 2-core CPU in the quick profile); the load average before and after is printed because other
processes stretch wall time. Look at the pictures too: ``--out DIR`` keeps the executed notebooks, the figures
and ``index.html``.

    python benchmarks/notebook_budget.py [--notebooks 01,05] [--profile quick] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 180.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", default=None, help="comma-separated numbers (default: all)")
    parser.add_argument("--profile", default="quick", help="smoke | quick | report (default quick)")
    parser.add_argument("--out", default=None, help="keep the executed notebooks and the gallery here")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds per notebook (default 180)")
    args = parser.parse_args(argv)

    os.environ.setdefault("TQDM_DISABLE", "1")
    from facegen_utils import gallery

    notebooks = args.notebooks.split(",") if args.notebooks else None
    with tempfile.TemporaryDirectory(prefix="facegen-budget-") as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        runs = gallery.run_all(profile=args.profile, out=out, notebooks=notebooks, progress=False)
        total = time.perf_counter() - started
        load_after = os.getloadavg()[0]

    print(f"\nprofile {args.profile}; load average {load_before:.2f} before, {load_after:.2f} after; "
          f"{os.cpu_count()} logical CPUs; whole run incl. gallery {total:.0f} s")
    print(f"{'notebook':<32} {'seconds':>8} {'x budget':>9}  status")
    worst = 0.0
    for run in runs:
        ratio = run.seconds / args.budget
        worst = max(worst, ratio)
        status = "FAILED: " + run.error.splitlines()[0] if run.error else ("within" if ratio <= 1 else "OVER")
        print(f"{run.name:<32} {run.seconds:>8.1f} {ratio:>9.2f}  {status}")
    if args.out:
        print(f"gallery: {Path(args.out) / 'index.html'}")
    return 1 if any(run.error for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
