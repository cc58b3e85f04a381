"""Runs the threads of a launch: blocks one after another, threads of a block phase by phase.

Why generators: a ``__syncthreads()`` must stop a thread until every other thread of its block
has arrived. Each thread is a generator; it runs until it yields at a barrier or a warp
collective. When no thread can go on, the pending collectives of each warp execute (all lanes
of the warp that reached the same call together), and when only barriers are left, every thread
must be waiting at the same one: the phase ends (the race log starts afresh) and all resume.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backends.cuda.launch_info import THREAD_TAGS
from passes.gpu_pipeline import GPULimits

from .collectives import WARP_SIZE, CollectiveError, LaneCall, Ref, WarpCall, lookup_collective
from .errors import EmulatorBarrierError, EmulatorError, thread_runs, triple
from .kernel import EmulatedKernel
from .races import GlobalWriteLog, RaceChecker
from .translate import BARRIER, SHARED_SCOPES

_RUN, _DONE = "run", "done"
# what every GPU allows: the emulator also runs hand-written kernels that never went through
# ``verify-gpu-code``, and its extents may depend on the arguments
_LIMITS = GPULimits()


def _poison(size: int, dtype: np.dtype) -> np.ndarray:
    """Uninitialised storage: NaN for floats, an unlikely value for integers."""
    if dtype.kind in "fc":
        return np.full(size, np.nan, dtype)
    if dtype.kind == "b":
        return np.zeros(size, dtype)
    info = np.iinfo(dtype)
    return np.full(size, info.max if dtype.kind == "u" else info.min, dtype)


class Thread:
    """One thread: ``_T`` of the generated code (its indices and storage), and its state."""

    __slots__ = ("block", "gen", "index", "lin", "logs", "send", "state")

    def __init__(self, index: tuple, lin: int, block: Block) -> None:
        self.index = index  # (bx, by, bz, tx, ty, tz)
        self.lin = lin
        self.block = block
        self.state: Any = _RUN
        self.send: Any = None
        checker = block.checker
        if checker is None:
            self.logs = (None,) * 5
        else:  # the log functions of races.py that the generated code calls
            self.logs = (checker.lr, checker.lw, checker.lrv, checker.lwv,
                         block.launch.global_log.gw)

    def storage(self, key: int, size: int, dtype: np.dtype) -> np.ndarray:
        """The storage of allocation ``key`` as this thread sees it (by the scope)."""
        launch = self.block.launch
        scope = launch.kernel.tables.storages[key].scope
        if scope in SHARED_SCOPES:
            table, k = self.block.shared, key
        elif scope.startswith("wmma."):
            table, k = self.block.shared, (key, self.lin // launch.warp_size)
        elif scope == "global":
            table, k = launch.global_allocs, key
        else:
            return _poison(size, dtype)
        array = table.get(k)
        if array is None:
            array = table[k] = _poison(size, dtype)
        return array


class Block:
    """The shared storage and race log of one thread block."""

    def __init__(self, launch: Launch, index: tuple[int, int, int]) -> None:
        self.launch = launch
        self.index = index
        self.shared: dict[Any, np.ndarray] = {}
        num_warps = -(-launch.threads_per_block // launch.warp_size)
        self.checker = RaceChecker(launch, index, num_warps) if launch.check_races else None


class Launch:
    """One kernel launch over its grid."""

    def __init__(self, kernel: EmulatedKernel, values: list[Any]) -> None:
        self.kernel = kernel
        self.values = values
        self.check_races = kernel.check_races
        self.warp_size = WARP_SIZE
        self.grid, self.block_dim = kernel.dims(values)
        dx, dy, dz = self.block_dim
        self.threads_per_block = dx * dy * dz
        self.check_limits()
        self.triples = [(x, y, z) for z in range(dz) for y in range(dy) for x in range(dx)]
        self.global_allocs: dict[int, np.ndarray] = {}
        self.global_log = GlobalWriteLog(self) if self.check_races else None
        self._keys = np.zeros(0, np.int64)

    def check_limits(self) -> None:
        """Refuse a launch no GPU would run (the bounds of ``GPULimits``' defaults)."""
        name = self.kernel.name
        if self.threads_per_block > _LIMITS.max_threads_per_block:
            raise EmulatorError(
                f"kernel {name!r} launches {self.threads_per_block} threads per block "
                f"{triple(self.block_dim)}; a GPU runs at most {_LIMITS.max_threads_per_block}"
            )
        most = (_LIMITS.max_grid_x, _LIMITS.max_grid_y, _LIMITS.max_grid_z,
                _LIMITS.max_thread_x, _LIMITS.max_thread_y, _LIMITS.max_thread_z)
        for tag, extent, limit in zip(THREAD_TAGS, (*self.grid, *self.block_dim), most):
            if extent > limit:
                raise EmulatorError(f"kernel {name!r} launches {tag}={extent}; a GPU allows at "
                                    f"most {limit}")

    def access_keys(self) -> np.ndarray:
        """The storage number of each access id (the table grows with collectives' notes)."""
        accesses = self.kernel.tables.accesses
        if len(self._keys) != len(accesses):
            self._keys = np.array([a[2] for a in accesses], np.int64)
        return self._keys

    def run(self) -> None:
        gx, gy, gz = self.grid
        for bz in range(gz):
            for by in range(gy):
                for bx in range(gx):
                    self.run_block((bx, by, bz))

    def run_block(self, index: tuple[int, int, int]) -> None:
        block = Block(self, index)
        if self.global_log is not None:
            self.global_log.checker = block.checker
        threads = [Thread(index + t, lin, block) for lin, t in enumerate(self.triples)]
        for t in threads:
            t.gen = self.kernel.thread_fn(*self.values, t)
        runnable = threads
        while True:
            for t in runnable:
                self.advance(t)
            runnable = self.run_collectives(threads, block)
            if runnable:
                continue
            if all(t.state is _DONE for t in threads):
                if block.checker is not None:
                    block.checker.end_phase(-1)
                return
            barrier = self.check_barrier(threads)
            if block.checker is not None:
                block.checker.end_phase(barrier)
            for t in threads:
                t.send = None
            runnable = threads

    def advance(self, t: Thread) -> None:
        """Run ``t`` to its next barrier, collective or end."""
        checker = t.block.checker
        if checker is not None:
            checker.switch(t.lin)
        value, t.send = t.send, None
        try:
            t.state = t.gen.send(value)
        except StopIteration:
            t.state = _DONE
        except EmulatorError:
            raise
        except Exception as err:
            raise self.failure(err, t) from err

    # ------------------------------------------------------------ warp collectives

    def run_collectives(self, threads: list[Thread], block: Block) -> list[Thread]:
        """Execute every group of lanes waiting at the same collective; the resumed lanes."""
        groups: dict[tuple[int, int], list[Thread]] = {}
        for t in threads:
            state = t.state
            if state is not _DONE and state[0] != BARRIER:
                groups.setdefault((t.lin // self.warp_size, state[1]), []).append(t)
        for (warp, site), lanes in groups.items():
            self.execute(warp, site, lanes, block)
        return [t for lanes in groups.values() for t in lanes]

    def execute(self, warp: int, site: int, lanes: list[Thread], block: Block) -> None:
        _, _, op, dtype, _ = lanes[0].state
        if op == "syncwarp":
            if block.checker is not None:
                block.checker.sync_warp(warp)
            return
        fn = lookup_collective(op)
        call = WarpCall(
            op, dtype,
            [LaneCall(t.lin % self.warp_size, self.triples[t.lin], t.state[4]) for t in lanes],
            warp, block.index, self.kernel.name, self.kernel.tables.sites[site].text,
            self.warp_size,
        )
        try:
            results = fn(call)
        except CollectiveError as err:
            raise EmulatorError(
                f"warp-collective T.{op[4:]} in kernel {self.kernel.name!r}, block "
                f"{triple(block.index)}, warp {warp} at {self.describe_site(site)}: {err}"
            ) from None
        self.note_accesses(call, lanes[0], block, site)
        if results is not None:
            if len(results) != len(lanes):
                raise EmulatorError(
                    f"the collective {op} returned {len(results)} results for {len(lanes)} lanes"
                )
            for t, value in zip(lanes, results):
                t.send = value

    def note_accesses(self, call: WarpCall, first: Thread, block: Block, site: int) -> None:
        """Log the shared-memory accesses a collective reported, as made by its first lane."""
        checker = block.checker
        if checker is None or not call._accesses:
            return
        checker.switch(first.lin)
        for ref, offsets, write in call._accesses:
            if isinstance(ref, Ref) and ref.scope in SHARED_SCOPES:
                access = self.kernel.tables.access_id(site, ref.name, ref.key)
                checker.note(offsets, write, access)

    # ------------------------------------------------------------ barriers and errors

    def check_barrier(self, threads: list[Thread]) -> int:
        """The site of the barrier every thread waits at, or an EmulatorBarrierError saying
        who waits where."""
        waiting: dict[int, list[int]] = {}
        exited: list[int] = []
        for t in threads:
            if t.state is _DONE:
                exited.append(t.lin)
            else:
                waiting.setdefault(t.state[1], []).append(t.lin)
        if len(waiting) == 1 and not exited:
            return next(iter(waiting))
        parts = [f"threads {thread_runs(lins, self.triples)} wait at the barrier "
                 f"{self.describe_site(site)}" for site, lins in waiting.items()]
        if exited:
            parts.append(f"threads {thread_runs(exited, self.triples)} exited")
        block = triple(threads[0].index[:3])
        raise EmulatorBarrierError(
            f"barrier divergence in kernel {self.kernel.name!r}, block {block}: "
            + " while ".join(parts)
        )

    def describe_site(self, site: int) -> str:
        return self.kernel.tables.sites[site].describe() if site >= 0 else "the kernel's entry"

    def describe_access(self, access: int) -> str:
        return self.describe_site(self.kernel.tables.accesses[access][0])

    def out_of_bounds(self, off: int, size: int, access: int) -> None:
        name = self.kernel.tables.accesses[access][1]
        raise IndexError(f"index {off} is out of bounds of buffer {name!r} ({size} elements)")

    def failure(self, err: Exception, t: Thread) -> EmulatorError:
        """``err`` raised by thread ``t``'s code, as an error naming the statement."""
        site = -1
        tb = err.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self.kernel.filename:
                lines = self.kernel.tables.line_sites
                if 0 <= tb.tb_lineno - 1 < len(lines):
                    site = lines[tb.tb_lineno - 1]
            tb = tb.tb_next
        if isinstance(err, IndexError):
            what = "out-of-bounds access"
        else:
            what = type(err).__name__
        return EmulatorError(
            f"{what} in kernel {self.kernel.name!r}, block {triple(t.index[:3])}, thread "
            f"{triple(t.index[3:])} at {self.describe_site(site)}: {err}"
        )
