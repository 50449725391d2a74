"""What a command shows on the terminal while it runs: the ``tfclaims`` log records of
``tfclaims.core.orchestration`` as a progress display.

On a terminal (stderr is a TTY) a stage that has started shows as a spinner with its name, and
becomes one line with its counts and seconds when it ends. Piped or redirected,
each stage's end is one plain line with the time of day, for a log file. Progress goes to stderr:
stdout keeps the command's results.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

from tfclaims.core.orchestration import ENDED, LOG, STARTED

__all__ = ["show_progress"]


class _Progress(logging.Handler):
    def __init__(self, stream: TextIO, tty: bool) -> None:
        super().__init__(logging.INFO)
        self.stream, self.tty = stream, tty
        self._console: Any = None
        self._spinners: list[Any] = []  # the spinners of the stages running now, innermost last

    def _rich(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
        return self._console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stage = getattr(record, "stage", None)
            if self.tty:
                self._emit_tty(record, stage)
            elif stage != STARTED:
                self.stream.write(f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.getMessage()}\n")
                self.stream.flush()
        except Exception:  # a display problem never stops a run
            self.handleError(record)

    def _emit_tty(self, record: logging.LogRecord, stage: str | None) -> None:
        console = self._rich()
        if stage == STARTED:
            status = console.status(f"{record.stage_name} ...", spinner="dots")  # type: ignore[attr-defined]
            if self._spinners:
                self._spinners[-1].stop()
            status.start()
            self._spinners.append(status)
            return
        if stage == ENDED and self._spinners:
            self._spinners.pop().stop()
            counts = f"  {record.counts}" if record.counts else ""  # type: ignore[attr-defined]
            console.print(f"  [green]done[/green] {record.stage_name}{counts}  [dim]{record.seconds:.1f} s[/dim]",  # type: ignore[attr-defined]
                          markup=True)
            if self._spinners:
                self._spinners[-1].start()
            return
        console.print(f"  {record.getMessage()}", markup=False)

    def stop(self) -> None:
        """Stop every spinner (a run that ended in an error or Ctrl-C leaves none turning)."""
        while self._spinners:
            self._spinners.pop().stop()


_installed: _Progress | None = None


def show_progress(stream: TextIO | None = None) -> _Progress:
    """Show the run's progress on ``stream`` (stderr): a spinner per stage on a terminal, plain lines
    otherwise. Idempotent."""
    global _installed
    stream = stream or sys.stderr
    if _installed is not None:
        LOG.removeHandler(_installed)
    _installed = _Progress(stream, tty=stream.isatty())
    LOG.addHandler(_installed)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False  # the root logger's handler would repeat every line
    return _installed
