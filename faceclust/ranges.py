"""The values each user-facing parameter may take, declared once: parameter validation (a clear
one-line error) and the dashboard's sliders and inputs read the same ``Range``."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BadInput


@dataclass(frozen=True)
class Range:
    """low..high, both included unless ``open_low`` (then low is excluded); ``shown``: the part a
    dashboard slider offers where the whole range would be unwieldy (default: all of it);
    ``step``: the slider's step, where it has a fixed one."""

    low: float
    high: float
    open_low: bool = False
    shown: tuple[float, float] | None = None
    step: float | None = None

    def __str__(self) -> str:
        return f"{'(' if self.open_low else '['}{self.low:g}, {self.high:g}]"

    def check(self, name: str, value: float) -> None:
        """BadInput ("``name`` must be in [low, high], got ...") where ``value`` is outside."""
        above_low = value > self.low if self.open_low else value >= self.low
        if not (above_low and value <= self.high):
            raise BadInput(f"{name} must be in {self}, got {value}")

    @property
    def slider(self) -> tuple[float, float]:
        """(low, high) of a dashboard control for this parameter."""
        return self.shown or (self.low, self.high)

    @property
    def offered(self) -> list[float]:
        """Every value the slider offers (low to high by ``step``)."""
        low, high = self.slider
        return [round(low + i * self.step, 6) for i in range(round((high - low) / self.step) + 1)]


#: Clustering: the clothing weight, eps (any embedder's distances lie in 0..2), min samples.
WEIGHT = Range(0.0, 1.0, step=0.05)
EPS = Range(0.0, 2.0, open_low=True)
MIN_SAMPLES = Range(1, 1000, shown=(1, 10))
#: Sampling: every Nth frame.
STEP = Range(1, 100_000, shown=(1, 300))
#: Reels (seconds): join appearances this close, pad each, drop shorter ones.
GAP = Range(0.0, 60.0)
PAD = Range(0.0, 10.0)
MIN_LENGTH = Range(0.0, 600.0)
