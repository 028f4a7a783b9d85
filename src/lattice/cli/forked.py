"""Running a function over shards of items in forked workers that inherit this process's state.

Why fork, and why not `multiprocessing.Pool`: the work needs the parent's whole state (the parsed fleet, the
compile context, whatever the fleet-wide steps decided before) and pickling that state would cost more than
the work. A forked child sees all of it, copy-on-write, for nothing; only each shard's result travels back.
`Pool` and `ProcessPoolExecutor` also pickle the function and its arguments, feed results through helper
threads and pipes, and a pipe that nobody drains stalls the worker writing to it while the parent is busy.

How results travel: every worker owns a `Spool`, an anonymous in-memory file (Linux `memfd_create`, else an
unlinked temporary file) created before the fork. A worker writes each shard's encoded result to its spool and
sends the parent a 21-byte notice (shard, status, offset, length) through its pipe, so the pipe never fills and
the worker never waits for the parent. The parent reads a result from the spool when it reaches that shard.
The work may also append bytes of its own to the spool it is given (`Spool.append`), which the parent can copy
to a file later without them ever passing through Python objects (`Spool.send_to`): that is how rendered YAML
reaches standard output.

Guarantees: results come back in shard order; a shard whose worker died, or whose work raised, is done again
in this process, so the answer is the same, or the same exception is raised here, where it can be seen. A
child never returns into the caller's code: it leaves with `os._exit`, so it flushes no inherited buffer and
runs no exit handler.
"""

from __future__ import annotations

import contextlib
import errno
import io
import marshal
import os
import pickle
import selectors
import signal
import struct
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

R = TypeVar("R")
T = TypeVar("T")

_NO_SENDFILE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV})
_NOTICE = struct.Struct("<iBQQ")  # shard, status (1 = done), offset, length
_SHARD = struct.Struct("<i")
_MAX_SHARDS = 4096


@dataclass(frozen=True, slots=True)
class Codec:
    """How a shard's result becomes bytes in a worker and comes back in the parent."""

    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]


PICKLE = Codec(lambda value: pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), pickle.loads)
MARSHAL = Codec(marshal.dumps, marshal.loads)
"""For plain data only (dict, list, tuple, str, bytes, int, float, bool, None): several times faster than
pickle both ways. It is safe here because both ends are this program."""


class Spool:
    """An append-only anonymous file shared with forked children. Each spool has one writer at a time (the
    worker it belongs to, or this process), which keeps its own size; readers name explicit offsets."""

    def __init__(self, number: int = -1) -> None:
        fd = _anonymous_file()
        self.number = number  # which worker writes it (-1: this process); results name their spool by it
        self._file = io.FileIO(fd, "r+", closefd=True)  # closes the descriptor when the spool is freed
        self.fd = fd
        self.size = 0

    def append(self, data: bytes) -> int:
        """Write `data` at the end; return the offset it starts at."""
        offset = self.size
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, self.size)
            self.size += written
            view = view[written:]
        return offset

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self.fd, length, offset) if length else b""

    def send_to(self, fd: int, offset: int, length: int) -> None:
        """Copy `length` bytes at `offset` to the file descriptor `fd`, inside the kernel where it can."""
        end = offset + length
        while offset < end:
            try:
                sent = os.sendfile(fd, self.fd, offset, end - offset)
            except OSError as exc:
                # `sendfile` refuses some outputs (a file opened with O_APPEND, some devices): copy instead.
                if exc.errno not in _NO_SENDFILE:
                    raise
                _write_all(fd, self.read(offset, end - offset))
                return
            if sent == 0:  # the spool is shorter than promised: a bug, never silently truncated output
                raise OSError(f"the spool ended {end - offset} bytes early")
            offset += sent

    def close(self) -> None:
        self._file.close()


def _anonymous_file() -> int:
    if hasattr(os, "memfd_create"):
        try:
            return os.memfd_create("lattice-spool", os.MFD_CLOEXEC)
        except OSError:
            pass
    with tempfile.TemporaryFile() as handle:  # unlinked at once; the duplicate keeps it alive
        return os.dup(handle.fileno())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


Work = Callable[[int, int, Spool], R]
"""The work for one shard: items `[start, stop)` of whatever the caller shares with the workers, and the
spool this process or worker writes to. It returns the shard's result."""


class Shards(Generic[R]):
    """`work` over `count` items cut into contiguous shards, in up to `workers` forked processes.

    Iterate to get each shard's result, in order, as soon as it and every shard before it are done; the
    workers go on meanwhile. With fewer than two workers the shards run here, one after the other, with the
    results not encoded at all: `codec.decode(codec.encode(x))` must be as good as `x`."""

    def __init__(self, work: Work[R], count: int, *, workers: int, codec: Codec = PICKLE,
                 shards_per_worker: int = 8) -> None:
        self.work, self.count, self.codec = work, count, codec
        self.workers = max(1, min(workers, count))
        # At most _MAX_SHARDS: the shards left after each worker's first are written to a pipe before any worker
        # reads it, and a pipe holds 64 KiB.
        shards = min(self.workers * shards_per_worker, _MAX_SHARDS) if self.workers >= 2 else 1
        step = max(1, -(-count // shards))
        self.bounds = [(k, min(k + step, count)) for k in range(0, count, step)]
        self.spools: list[Spool] = []  # one per worker; kept after the workers end, for the caller's reads
        self.local = Spool()

    def spool(self, number: int) -> Spool:
        """The spool a result names (`Spool.number`)."""
        return self.local if number < 0 else self.spools[number]

    def __iter__(self) -> Iterator[R]:
        if self.workers < 2 or len(self.bounds) < 2:
            for start, stop in self.bounds:
                yield self.work(start, stop, self.local)
            return
        yield from self._forked()

    def _forked(self) -> Iterator[R]:
        workers = min(self.workers, len(self.bounds))
        self.spools = [Spool(k) for k in range(workers)]
        tasks_r, tasks_w = os.pipe()
        # Shards `workers…` are taken by whichever worker is free; worker k starts with shard k, so that every
        # worker does some work. A pipe hands them out: a read of 4 bytes is atomic, and all are written now.
        _write_all(tasks_w, b"".join(_SHARD.pack(k) for k in range(workers, len(self.bounds))))
        os.close(tasks_w)
        pipes = [os.pipe() for _ in range(workers)]
        pids: list[int] = []
        try:
            for k in range(workers):
                pid = os.fork()
                if pid == 0:  # the child: never returns
                    _child(self, k, tasks_r, pipes)
                pids.append(pid)
        finally:
            os.close(tasks_r)
            for _, write_end in pipes:
                os.close(write_end)
        finished = False
        try:
            yield from self._collect([read_end for read_end, _ in pipes])
            finished = True
        finally:
            for pid in pids:
                if not finished:  # the caller stopped early (an exception): the work left is not needed
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)

    def _collect(self, reads: list[int]) -> Iterator[R]:
        notices: dict[int, tuple[int, int, int, int]] = {}  # shard -> (worker, status, offset, length)
        pending = {fd: bytearray() for fd in reads}
        worker_of = {fd: k for k, fd in enumerate(reads)}
        selector = selectors.DefaultSelector()
        for fd in reads:
            selector.register(fd, selectors.EVENT_READ)
        try:
            for shard, (start, stop) in enumerate(self.bounds):
                while shard not in notices and pending:
                    for key, _ in selector.select():
                        fd = int(key.fd)
                        chunk = os.read(fd, 1 << 16)
                        if not chunk:  # the worker is gone: whatever it did not report is done here
                            selector.unregister(fd)
                            os.close(fd)
                            del pending[fd]
                            continue
                        buffer = pending[fd]
                        buffer += chunk
                        while len(buffer) >= _NOTICE.size:
                            done, status, offset, length = _NOTICE.unpack_from(buffer)
                            del buffer[:_NOTICE.size]
                            notices[done] = (worker_of[fd], status, offset, length)
                notice = notices.pop(shard, None)
                if notice is not None and notice[1] == 1:
                    yield self.codec.decode(self.spools[notice[0]].read(notice[2], notice[3]))
                else:
                    yield self.work(start, stop, self.local)
        finally:
            selector.close()
            for fd in pending:
                os.close(fd)


def run(work: Work[R], count: int, *, workers: int, codec: Codec = PICKLE) -> list[R]:
    """Every shard's result of `work` over `count` items, in order (see `Shards`)."""
    return list(Shards(work, count, workers=workers, codec=codec))


def map_items(fn: Callable[[T], R], items: Sequence[T], *, workers: int, codec: Codec = PICKLE) -> list[R]:
    """`[fn(item) for item in items]`, computed in up to `workers` forked processes that inherit everything
    this process holds (so `fn` may be a closure over the fleet, the context, earlier decisions); each result
    comes back pickled (or by `codec`), so keep results small: decisions, not objects. For example the
    authorization decision of every workload, before a serial quota pass::

        decisions = forked.map_items(lambda item: decide(item, context), ordered, workers=worker_count())
    """

    def work(start: int, stop: int, spool: Spool) -> list[R]:
        return [fn(item) for item in items[start:stop]]

    return [result for shard in Shards(work, len(items), workers=workers, codec=codec) for result in shard]


def _child(shards: Shards[Any], index: int, tasks: int, pipes: list[tuple[int, int]]) -> None:
    code = 0
    try:
        for k, (read_end, write_end) in enumerate(pipes):
            os.close(read_end)
            if k != index:
                os.close(write_end)
        out, spool = pipes[index][1], shards.spools[index]
        shard: int | None = index
        while shard is not None:
            start, stop = shards.bounds[shard]
            try:
                data = shards.codec.encode(shards.work(start, stop, spool))
            except Exception:  # done again in the parent, which raises it where it can be seen
                notice = _NOTICE.pack(shard, 0, 0, 0)
            else:
                notice = _NOTICE.pack(shard, 1, spool.append(data), len(data))
            _write_all(out, notice)
            raw = os.read(tasks, _SHARD.size)
            shard = _SHARD.unpack(raw)[0] if len(raw) == _SHARD.size else None
    except BaseException:  # a child must never unwind into the caller's code
        code = 1
    finally:
        os._exit(code)
