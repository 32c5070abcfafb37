"""GCReport: one stop-the-world pause with its phase breakdown."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from gcheap import _lowlevel as _ll

_COLLECTOR_NAMES = {_ll.GR_COLLECTOR_STW: "stw", _ll.GR_COLLECTOR_CMC: "cmc"}
# The phases of a whole stop-the-world collection, reported even when they took no
# time; any other phase is reported when it ran.
_CORE = {"safepoint", "mark", "compute_liveness", "compute_page_metadata", "update_roots", "compact", "release"}


@dataclass(frozen=True)
class GCReport:
    collector: str
    cause: str
    seq: int
    pause_s: float                      # request to resume: the whole stop-the-world time
    phases: dict = field(default_factory=dict)  # phase name -> seconds, in execution order
    live_bytes: int = 0
    freed_bytes: int = 0
    moved_bytes: int = 0
    live_objects: int = 0
    used_before: int = 0
    rss_before: int = 0                 # resident bytes of the heap mapping, just before the pause
    rss_after: int = 0                  # ... just after it
    kind: str = "full"                  # which pause: full (stw), mark+flip, start, remark, flip
    start_s: float = 0.0                # when it began (CLOCK_MONOTONIC, time.perf_counter()'s clock)

    @classmethod
    def from_pause(cls, p: dict) -> "GCReport":
        whole = p.get("kind", "full") in ("full", "mark+flip")
        phases = {name: ns / 1e9 for name, ns in zip(_ll.PHASE_NAMES, p["phase_ns"])
                  if ns or (whole and name in _CORE)}
        return cls(collector=_COLLECTOR_NAMES.get(p["collector"], str(p["collector"])),
                   cause=_ll.CAUSE_NAMES.get(p["cause"], str(p["cause"])), seq=p["seq"],
                   kind=p.get("kind", "full"), start_s=p["start_ns"] / 1e9,
                   pause_s=p["pause_ns"] / 1e9, phases=phases, live_bytes=p["live_bytes"],
                   freed_bytes=p["freed_bytes"], moved_bytes=p["moved_bytes"],
                   live_objects=p["live_objects"], used_before=p["used_before"],
                   rss_before=p["rss_before"], rss_after=p["rss_after"])

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        ph = ", ".join(f"{k} {v * 1e3:.3f}" for k, v in self.phases.items())
        return (f"{self.collector} gc #{self.seq} ({self.cause}): pause {self.pause_s * 1e3:.3f} ms "
                f"[{ph}] live {self.live_bytes} B, freed {self.freed_bytes} B, moved {self.moved_bytes} B, "
                f"rss {self.rss_before} -> {self.rss_after} B")


def pause_summary(pauses_s: list[float]) -> dict:
    """count, p50, p90, p99, p99.9, max and total of pause times (gcheap.metrics)."""
    from gcheap.metrics import pause_summary as summary
    return summary(pauses_s)
