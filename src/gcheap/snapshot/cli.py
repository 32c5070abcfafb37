"""`gcheap snapshot`: look into heap snapshot files.

    gcheap snapshot inspect FILE [--json] [--no-verify]

Exit status: 0 the file is a good snapshot; 1 it is not (not a snapshot, another
format version, truncated, corrupt: the reason is printed) or cannot be read;
2 bad usage.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys

DESCRIPTION = """\
Look into a file written by rt.snapshot() or rt.swap_out(): its format version,
the heap it holds (address, capacity, used bytes), how much is data and how much
metadata, the classes and named global roots a restore brings back, and whether
every chunk's checksum holds (read the whole file; --no-verify skips that).

examples:
  gcheap snapshot inspect heap.snap
  gcheap snapshot inspect --json heap.snap | jq .used

exit status: 0 a good snapshot; 1 not a snapshot, another version, truncated,
corrupt or unreadable (the reason is printed); 2 bad usage."""

EXIT_OK, EXIT_BAD_FILE, EXIT_USAGE = 0, 1, 2


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", title="actions",
                           help="what to do with the file (inspect)")
    sub.required = True
    i = sub.add_parser("inspect", help="print a snapshot file's header, sizes and checksum verification",
                       description="Print a snapshot file's header, sizes, classes and roots, and verify "
                                   "every chunk's checksum.\n\nexit status: 0 good; 1 bad or unreadable "
                                   "file; 2 bad usage.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    i.add_argument("file", help="the snapshot or swap file")
    i.add_argument("--json", action="store_true", help="print everything as JSON")
    i.add_argument("--no-verify", action="store_true", help="do not read the data to check the chunk checksums")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _table(path: str, d: dict) -> str:
    meta = d.get("meta", {})
    classes = meta.get("classes", [])
    created = datetime.datetime.fromtimestamp(d["created_ns"] / 1e9, datetime.timezone.utc)
    user = ", ".join(f"{c['name']}({', '.join(c['refs'])}; {', '.join(s[0] for s in c['scalars'])})"
                     for c in sorted(classes, key=lambda c: c["id"]))
    globs = sorted(meta.get("globals", {}))
    used_pages = -(-d["used"] // d["page_size"])
    rows = [
        ("file", f"{path} ({d['file_bytes']} bytes)"),
        ("format", f"gcheap heap snapshot, version {d['version']} ({d['kind']}, written by {d['mode']})"),
        ("created", created.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("collector", meta.get("collector", "?")),
        ("heap", f"at {d['heap_address']:#x}, capacity {_size(d['heap_capacity'])}, used {_size(d['used'])}, "
                 f"soft limit {_size(d['soft_limit'])}, live after the last collection {_size(d['live'])}"),
        ("page size, chunk", f"{d['page_size']} B, {d['chunk_pages']} pages ({_size(d['chunk_pages'] * d['page_size'])})"),
        ("data", f"{d['stored_pages']} of {used_pages} pages stored ({_size(d['data_bytes'])} in "
                 f"{d['nchunks']} chunks); zero pages are not written"),
        ("metadata", f"{_size(d['metadata_bytes'])} (header, {d['nclasses']} class records, {d['nglobals']} global "
                     f"slots, {d['meta_len']} B of names, chunk table)"),
        ("classes", f"{len(classes)} user class(es)" + (f": {user}" if user else "")),
        ("global roots", f"{len(globs)}" + (f": {', '.join(globs)}" if globs else "")),
    ]
    if "verified" in d:
        rows.append(("checksums", f"ok (all {d['nchunks']} chunks)" if d["verified"]
                     else f"BAD: chunk {d.get('bad_chunk')} ({d.get('verify_error')})"))
    else:
        rows.append(("checksums", "not verified (--no-verify)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(args: argparse.Namespace) -> int:
    from gcheap.errors import SnapshotError
    from gcheap.snapshot import info
    try:
        d = info(args.file, verify=not args.no_verify)
    except SnapshotError as e:
        print(f"gcheap snapshot: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_BAD_FILE
    except OSError as e:
        print(f"gcheap snapshot: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return EXIT_BAD_FILE
    if args.json:
        json.dump(d, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print(_table(args.file, d))
    return EXIT_OK if d.get("verified", True) else EXIT_BAD_FILE
