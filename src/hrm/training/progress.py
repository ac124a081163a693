"""The training progress bar (rank 0): steps done, the latest losses, and with a time budget the steps the budget
still allows."""

from __future__ import annotations

import sys
import time
from typing import Any


class TrainProgress:
    """A tqdm bar over optimiser steps (or nothing when disabled); lines written through it do not break it."""

    def __init__(self, total: int, initial: int, enabled: bool, budget_s: float = 0.0):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
                mininterval=0.5,
                smoothing=0.05,
            )
        self.budget_s = budget_s
        self.first_step = initial
        self.clock = time.perf_counter()
        self.step_s: float | None = None  # smoothed seconds per step, for the time-budget projection
        self.shown_exact: float | None = None  # the last train exact accuracy (steps where no row halted have none)
        self.skipped = 0  # steps the non-finite guard skipped in this process

    def show(self, record: dict[str, Any], last_eval: dict[str, float] | None) -> None:
        """Put a logged train record (and the last evaluation) beside the bar."""
        if record["exact_accuracy"] is not None:
            self.shown_exact = record["exact_accuracy"]
        if self.bar is None:
            return
        exact = self.shown_exact
        loss = record["lm_loss"]  # None when the non-finite guard skipped every step since the last log
        postfix = {"loss": "-" if loss is None else f"{loss:.4f}", "exact": "-" if exact is None else f"{exact:.3f}"}
        self.skipped += int(record.get("skipped_steps") or 0)
        if self.skipped:
            postfix["skipped"] = str(self.skipped)  # steps the non-finite guard skipped so far
        if last_eval is not None:
            postfix["eval_exact"] = f"{last_eval['exact_accuracy']:.3f}"
        postfix["lr"] = f"{record['lr']:.2e}"
        self.bar.set_postfix(postfix, refresh=False)

    def advance(self, step: int, total_steps: int, time_fraction: float) -> None:
        """One more step; with a time budget, re-estimate the total from the recent step time (not the mean since
        the start, which a slow first, compiling step would distort)."""
        if self.bar is None:
            return
        self.bar.update(1)
        if time_fraction <= 0:
            return
        now = time.perf_counter()
        if step - self.first_step > 3:  # the first steps compile and warm up
            interval = now - self.clock
            self.step_s = interval if self.step_s is None else 0.9 * self.step_s + 0.1 * interval
        self.clock = now
        if self.step_s is not None:
            left_s = (1.0 - time_fraction) * self.budget_s
            projected = step + int(left_s / max(self.step_s, 1e-9))
            self.bar.total = max(step, min(total_steps, projected))

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self, step: int) -> None:
        if self.bar is not None:
            self.bar.total = step  # a time budget ends the run before the estimated total
            self.bar.refresh()
            self.bar.close()
