"""Stop strings over streamed text: cut at the first match, never leak part of one.

Text arrives in pieces (one per token), and a stop string may span several of them. The
matcher emits what can no longer become part of a stop string and holds back the longest
tail that is still a prefix of one; if the stop string then completes, the held text is
dropped with it, and if not, it is emitted with the next piece (or by `flush` at the end).
Same shape as an incremental decoder: `feed(text)` per piece, `flush()` once at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class StopMatcher:
    stops: Sequence[str]
    stopped: bool = False
    _pending: str = field(default="", repr=False)

    def feed(self, text: str) -> str:
        """Add generated text; return what may be sent now. Sets `stopped` on a match."""
        if self.stopped:
            return ""
        if not self.stops:
            return text
        self._pending += text
        cut = min((i for s in self.stops if (i := self._pending.find(s)) >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self._pending = self._pending[:cut], ""
            return out
        hold = self._held_tail_length()
        out = self._pending[: len(self._pending) - hold]
        self._pending = self._pending[len(out) :]
        return out

    def flush(self) -> str:
        """The end of generation: a held tail that never completed is ordinary text."""
        out, self._pending = ("" if self.stopped else self._pending), ""
        return out

    def _held_tail_length(self) -> int:
        # Longest suffix of the pending text that is a proper prefix of some stop string.
        # (A whole stop string would have matched above.)
        pending = self._pending
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(pending)), longest, -1):
                if pending.endswith(stop[:size]):
                    longest = size
                    break
        return longest
