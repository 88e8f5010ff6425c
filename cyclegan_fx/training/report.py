"""What the user sees of a run: progress, loss records (CSV, curve PNG, TensorBoard), sample grids."""

from __future__ import annotations

import csv
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import make_grid

from cyclegan_fx.errors import ConfigError
from cyclegan_fx.io.atomic import atomic_output
from cyclegan_fx.io.image_write import save_image
from cyclegan_fx.training.run import RunFolder

log = logging.getLogger("cyclegan_fx")


@dataclass(frozen=True)
class LossLayout:
    """The losses a run records, and how the loss curve groups them into panels (y label, names)."""

    names: tuple[str, ...]
    panels: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def csv_fields(self) -> tuple[str, ...]:
        return ("step", "epoch", "lr", *self.names)


CYCLEGAN_LOSSES = LossLayout(
    ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"),
    (("adversarial", ("D_A", "G_A", "D_B", "G_B")), ("cycle and identity", ("cycle_A", "idt_A", "cycle_B", "idt_B"))),
)


def read_losses(path: Path) -> list[dict[str, float]]:
    """Rows of a losses.csv as numbers; an absent file has none."""
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def write_losses(path: Path, rows: list[dict[str, float]], layout: LossLayout) -> None:
    with atomic_output(path, overwrite=True) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, layout.csv_fields)
        writer.writeheader()
        writer.writerows({**row, "step": int(row["step"]), "epoch": int(row["epoch"])} for row in rows)


def plot_losses(rows: list[dict[str, float]], path: Path, layout: LossLayout) -> None:
    """The layout's panels of losses against the iteration, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 7), layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subplots(len(layout.panels), 1, sharex=True, squeeze=False)[:, 0]
    steps = [row["step"] for row in rows]
    for axes, (ylabel, names) in zip(panels, layout.panels):
        for name in names:
            axes.plot(steps, [row[name] for row in rows], label=name, linewidth=1)
        axes.legend(loc="upper right")
        axes.grid(alpha=0.3)
        axes.set_ylabel(ylabel)
    panels[-1].set_xlabel("iteration")
    with atomic_output(path, overwrite=True) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def sample_grid(columns: list[torch.Tensor]) -> np.ndarray:
    """One row per held-out image, one column per tensor of images in [-1, 1], as uint8 HWC."""
    rows = min(len(c) for c in columns)
    tiles = [column[i] for i in range(rows) for column in columns]
    grid = make_grid(torch.stack(tiles).float().cpu().add(1).div(2).clamp(0, 1), nrow=len(columns), padding=2)
    return grid.mul(255).round().byte().permute(1, 2, 0).numpy()


class Reporter:
    """Progress and records of a run; on ranks other than 0 it does nothing."""

    def __init__(self, run: RunFolder, total_epochs: int, steps_per_epoch: int, enabled: bool, tensorboard: bool,
                 layout: LossLayout = CYCLEGAN_LOSSES, phase: str = "epoch") -> None:
        self.run, self.total_epochs, self.steps_per_epoch, self.enabled = run, total_epochs, steps_per_epoch, enabled
        self.layout, self.phase = layout, phase  # phase: what one pass of steps_per_epoch iterations is called
        self.bar = None
        self.board = _open_tensorboard(run.tensorboard) if tensorboard and enabled else None
        self.started, self.started_batch = time.monotonic(), 0

    def resume_at(self, step: int) -> None:
        """Forget loss records past ``step``: they were written after the checkpoint now resumed."""
        if self.enabled:
            rows = read_losses(self.run.losses_csv)
            write_losses(self.run.losses_csv, [row for row in rows if row["step"] <= step], self.layout)

    def start_epoch(self, epoch: int, batch: int) -> None:
        if not self.enabled:
            return
        self.started, self.started_batch = time.monotonic(), batch
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.steps_per_epoch, initial=batch, desc=f"{self.phase} {epoch + 1}/{self.total_epochs}",
                            unit="it", dynamic_ncols=True, leave=False)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update()

    def losses(self, step: int, epoch: int, batch: int, lr: float, values: dict[str, float]) -> None:
        """Append a row to losses.csv, show it, and send it to TensorBoard."""
        if not self.enabled:
            return
        new = not self.run.losses_csv.is_file()
        with self.run.losses_csv.open("a", newline="") as f:
            writer = csv.DictWriter(f, self.layout.csv_fields)
            if new:
                writer.writeheader()
            writer.writerow({"step": step, "epoch": epoch + 1, "lr": lr, **{k: f"{v:.5g}" for k, v in values.items()}})
        summary = " ".join(f"{k} {v:.3f}" for k, v in values.items())
        if self.bar is not None:
            self.bar.set_postfix_str(summary, refresh=False)
        else:
            log.info("%s %d/%d [%d/%d] step %d: %s (%s)", self.phase, epoch + 1, self.total_epochs, batch,
                     self.steps_per_epoch, step, summary, self._eta(batch))
        if self.board is not None:
            for name, value in values.items():
                self.board.add_scalar(f"loss/{name}", value, step)
            self.board.add_scalar("lr", lr, step)

    def _eta(self, batch: int) -> str:
        done = batch - self.started_batch
        if done <= 0:
            return "starting"
        rate = done / (time.monotonic() - self.started)
        return f"{rate:.2f} it/s, {self.phase} ends in {(self.steps_per_epoch - batch) / rate:.0f} s"

    def samples(self, step: int, columns: list[torch.Tensor]) -> None:
        if not self.enabled:
            return
        pixels = sample_grid(columns)
        save_image(self.run.samples / f"step_{step:08d}.png", pixels, overwrite=True)
        if self.board is not None:
            self.board.add_image("samples", pixels, step, dataformats="HWC")

    def end_epoch(self) -> None:
        """Close the epoch's bar and redraw the loss curve."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        rows = read_losses(self.run.losses_csv)
        if rows:
            plot_losses(rows, self.run.losses_png, self.layout)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.board is not None:
            self.board.close()


def _open_tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install tensorboard.") from exc
    return SummaryWriter(str(folder))


class LossMeter:
    """Running sums of the losses (kept on the device, so reading them is the only sync)."""

    def __init__(self, names: tuple[str, ...] = CYCLEGAN_LOSSES.names) -> None:
        self.names = names
        self.reset()

    def reset(self) -> None:
        self.sums: torch.Tensor | None = None
        self.count = 0

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        values = torch.stack([losses[name].detach().float() for name in self.names])
        self.sums = values if self.sums is None else self.sums + values
        self.count += 1

    def means(self) -> dict[str, float]:
        if self.sums is None:
            return {}
        return dict(zip(self.names, (self.sums / self.count).tolist()))

    def cycle(self) -> float:
        """Mean of cycle_A + cycle_B, infinite before any step."""
        means = self.means()
        return means["cycle_A"] + means["cycle_B"] if means else float("inf")

    def state_dict(self) -> dict:
        return {"sums": None if self.sums is None else self.sums.cpu(), "count": self.count}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self.sums = None if state["sums"] is None else state["sums"].to(device)
        self.count = state["count"]
