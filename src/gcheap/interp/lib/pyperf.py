"""gcheap's stand-in for pyperf: runs each benchmark once and prints its result.

`import pyperf` in a program run by `gcheap run` gets this module, so the
pyperformance benchmark files run unmodified. It is written in the Python
subset gcheap runs, and CPython runs it too (the differential tests put it on
sys.path as `pyperf`), so both print the same lines:

    NAME: repr(result)     for bench_func (the function called once)
    NAME: done             for bench_time_func (time_func(1, *args): loops=1)

on stdout; the time each took goes to stderr. `--loops N` (pyperf's option) runs
the function N times (bench_func) or passes loops=N (bench_time_func): longer
runs for timing, the same output. Runner(add_cmdline_args=...),
metadata, argparser.add_argument, parse_args(), bench_func, bench_time_func and
perf_counter are supported; the program's arguments are parsed by a small
argparse-like parser (options with type/default/choices/action, positionals
with nargs None or '?'), and pyperf's own common options are accepted and
ignored.
"""

import sys
import time

perf_counter = time.perf_counter

__version__ = "2.11.0 (gcheap stand-in)"


class Namespace:
    def __init__(self, **kwargs):
        for name, value in kwargs.items():
            setattr(self, name, value)

    def __repr__(self):
        parts = ["%s=%r" % (k, v) for k, v in sorted(vars(self).items())]
        return "Namespace(%s)" % ", ".join(parts)


class _Argument:
    def __init__(self, names, action, type, default, choices, nargs, dest, help, required):
        self.names = names
        self.action = action
        self.type = type
        self.default = default
        self.choices = choices
        self.nargs = nargs
        self.dest = dest
        self.help = help
        self.required = required

    def display(self):
        if self.names[0].startswith("-"):
            return "/".join(self.names)
        return self.dest


class ArgumentError(Exception):
    pass


class ArgumentParser:
    """The part of argparse.ArgumentParser the benchmarks use."""

    def __init__(self, prog=None, description=None, **kwargs):
        self.prog = prog if prog is not None else sys.argv[0]
        self.description = description
        self._options = {}
        self._positionals = []
        self._all = []

    def add_argument(self, *names, action="store", type=None, default=None, choices=None,
                     nargs=None, dest=None, help=None, required=False, metavar=None):
        if not names:
            raise ValueError("add_argument needs a name")
        if dest is None:
            long = [n for n in names if n.startswith("--")]
            first = long[0] if long else names[0]
            dest = first.lstrip("-").replace("-", "_")
        if action == "store_true" and default is None:
            default = False
        if action == "store_false" and default is None:
            default = True
        arg = _Argument(list(names), action, type, default, choices, nargs, dest, help, required)
        if names[0].startswith("-"):
            for n in names:
                self._options[n] = arg
        else:
            self._positionals.append(arg)
        self._all.append(arg)
        return arg

    def error(self, message):
        print("usage: %s [options]" % self.prog, file=sys.stderr)
        print("%s: error: %s" % (self.prog, message), file=sys.stderr)
        raise SystemExit(2)

    def _convert(self, arg, text):
        value = text
        if arg.type is not None:
            try:
                value = arg.type(text)
            except (TypeError, ValueError):
                name = getattr(arg.type, "__name__", "value")
                self.error("argument %s: invalid %s value: %r" % (arg.display(), name, text))
        if arg.choices is not None and value not in arg.choices:
            choices = ", ".join([repr(c) for c in arg.choices])
            self.error("argument %s: invalid choice: %r (choose from %s)" % (arg.display(), value, choices))
        return value

    def parse_args(self, args=None, namespace=None):
        if args is None:
            args = sys.argv[1:]
        ns = namespace if namespace is not None else Namespace()
        for arg in self._all:
            if not hasattr(ns, arg.dest):
                setattr(ns, arg.dest, arg.default)
        positionals = []
        i = 0
        only_positionals = False
        while i < len(args):
            token = args[i]
            i += 1
            if token == "--" and not only_positionals:
                only_positionals = True
                continue
            if token.startswith("-") and token != "-" and not only_positionals:
                value = None
                if token.startswith("--") and "=" in token:
                    token, value = token.split("=", 1)
                arg = self._options.get(token)
                if arg is None:
                    self.error("unrecognized arguments: %s" % token)
                if arg.action == "store_true":
                    setattr(ns, arg.dest, True)
                elif arg.action == "store_false":
                    setattr(ns, arg.dest, False)
                elif arg.action == "append":
                    if value is None:
                        if i >= len(args):
                            self.error("argument %s: expected one argument" % arg.display())
                        value = args[i]
                        i += 1
                    current = getattr(ns, arg.dest)
                    current = list(current) if current else []
                    current.append(self._convert(arg, value))
                    setattr(ns, arg.dest, current)
                else:
                    if value is None:
                        if i >= len(args):
                            self.error("argument %s: expected one argument" % arg.display())
                        value = args[i]
                        i += 1
                    setattr(ns, arg.dest, self._convert(arg, value))
            else:
                positionals.append(token)
        k = 0
        for arg in self._positionals:
            if arg.nargs in ("*", "+"):
                rest = [self._convert(arg, t) for t in positionals[k:]]
                if arg.nargs == "+" and not rest:
                    self.error("the following arguments are required: %s" % arg.dest)
                setattr(ns, arg.dest, rest)
                k = len(positionals)
            elif k < len(positionals):
                setattr(ns, arg.dest, self._convert(arg, positionals[k]))
                k += 1
            elif arg.nargs != "?":
                self.error("the following arguments are required: %s" % arg.dest)
        if k < len(positionals):
            self.error("unrecognized arguments: %s" % " ".join(positionals[k:]))
        for arg in self._all:
            if arg.required and getattr(ns, arg.dest) is None:
                self.error("the following arguments are required: %s" % arg.display())
        return ns


class Runner:
    """Runs each benchmark once (loops=1) and prints `NAME: RESULT`."""

    def __init__(self, values=None, processes=None, loops=0, min_time=0.1, metadata=None,
                 show_name=True, program_args=None, add_cmdline_args=None, _argparser=None,
                 warmups=1):
        self.metadata = dict(metadata) if metadata else {}
        self._add_cmdline_args = add_cmdline_args
        self.argparser = _argparser if _argparser is not None else ArgumentParser()
        # pyperf's own options: accepted, without effect here
        parser = self.argparser
        for flag in ("--fast", "--rigorous", "--debug-single-value", "--quiet", "--verbose",
                     "--worker", "--tracemalloc", "--track-memory", "--no-locale", "--profile"):
            parser.add_argument(flag, action="store_true")
        parser.add_argument("--loops", "-l", type=int, default=1)
        for opt in ("--processes", "--values", "--warmups", "--min-time",
                    "--output", "--append", "--affinity", "--inherit-environ", "--pipe",
                    "--timeout", "--worker-task", "--calibrate-loops", "--recalibrate-loops",
                    "--calibrate-warmups", "--recalibrate-warmups", "--hook"):
            parser.add_argument(opt)
        self.args = None

    def parse_args(self, args=None):
        if self.args is None:
            self.args = self.argparser.parse_args(args)
        return self.args

    def bench_func(self, name, func, *args, inner_loops=None, metadata=None):
        if self.args is None:
            self.parse_args()
        loops = max(1, getattr(self.args, "loops", 1) or 1)
        t0 = perf_counter()
        for _ in range(loops):
            result = func(*args)
        wall = perf_counter() - t0
        print("%s: %r" % (name, result))
        sys.stdout.flush()
        print("%s: %.6f s" % (name, wall), file=sys.stderr)
        return None

    def bench_time_func(self, name, time_func, *args, inner_loops=None, metadata=None):
        if self.args is None:
            self.parse_args()
        loops = max(1, getattr(self.args, "loops", 1) or 1)
        t0 = perf_counter()
        dt = time_func(loops, *args)
        wall = perf_counter() - t0
        print("%s: done" % name)
        sys.stdout.flush()
        print("%s: %.6f s (measured by the benchmark), %.6f s wall" % (name, dt, wall), file=sys.stderr)
        return None

    def bench_async_func(self, name, func, *args, **kwargs):
        raise NotImplementedError("gcheap's pyperf stand-in: async benchmarks are not supported")

    def bench_command(self, name, command):
        raise NotImplementedError("gcheap's pyperf stand-in: bench_command is not supported")
