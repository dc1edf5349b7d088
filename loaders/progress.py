"""A progress bar on stderr when it is a terminal, silent otherwise (pipes, CI, tests)."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int, stream=None):
        self.label, self.total, self.done = label, max(total, 1), 0
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.1 or self.done >= self.total):
            self._last = now
            share = min(self.done / self.total, 1.0)
            bar = "█" * int(share * 30)
            self.stream.write(f"\r{self.label} [{bar:<30}] {self.done:,}/{self.total:,}")
            if self.done >= self.total:
                self.stream.write("\n")
            self.stream.flush()
