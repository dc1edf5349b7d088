"""Progress on stderr: a bar when the total is known, a running count when it is not (rows read
while a file is validated). Shown when stderr is a terminal, or always with XUNCHA_PROGRESS=1 (for
logs of long jobs); silent otherwise (pipes, CI, tests)."""
from __future__ import annotations

import os
import sys
import time


class Progress:
    def __init__(self, label: str, total: int | None, stream=None, unit: str = ""):
        self.label, self.total, self.done, self.unit = label, total, 0, unit
        self.stream = stream or sys.stderr
        forced = os.environ.get("XUNCHA_PROGRESS", "") not in ("", "0")
        self.enabled = forced or (hasattr(self.stream, "isatty") and self.stream.isatty())
        self.line_end = "\n" if forced and not self.stream.isatty() else "\r"
        self._last = 0.0

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        finished = self.total is not None and self.done >= self.total
        if self.enabled and (now - self._last > 0.1 or finished):
            self._last = now
            if self.total is None:
                text = f"{self.label}：{self.done:,}{self.unit}"
            else:
                share = min(self.done / max(self.total, 1), 1.0)
                bar = "█" * int(share * 30)
                text = f"{self.label} [{bar:<30}] {self.done:,}/{self.total:,}"
            if self.line_end == "\r":
                self.stream.write("\r" + text + ("\n" if finished else ""))
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def finish(self) -> None:
        """End a running count's line."""
        if self.enabled and self.total is None and self.line_end == "\r" and self.done:
            self.stream.write("\n")
            self.stream.flush()
