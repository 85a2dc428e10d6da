"""Dynamic batcher: requests from concurrent clients are embedded together in one model call.

One future per item; a bounded queue (full -> `Overloaded`, HTTP 429); one worker task that takes up
to `max_batch` items, waiting at most `max_wait_ms` after the first; the model runs on the batcher's own
thread and results are set on the event loop. A failed batch fails every item in it; every wait is bounded.

An item may carry a job for `finish`, which runs on the same thread right after the model with the whole
batch's embeddings (the service searches each gallery once per batch there), so a request makes no further
thread hop; `finish` answers per item, and an exception it answers for one item fails that item alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.errors import BatchFailed, NotRunning, Overloaded

log = logging.getLogger(__name__)

RunFn = Callable[[np.ndarray], np.ndarray]
FinishFn = Callable[
    [np.ndarray, Sequence[Any]], list[Any]
]  # (embeddings, jobs) -> a result or exception each


@dataclass(frozen=True)
class BatchConfig:
    """Batching limits (from SG_MAX_BATCH, SG_MAX_WAIT_MS, SG_QUEUE_SIZE) and the per-request wait bound."""

    max_batch: int = 32
    max_wait_ms: float = 0.0
    queue_size: int = 1024
    timeout_s: float = 30.0


@dataclass(frozen=True)
class _Item:
    array: np.ndarray
    future: asyncio.Future[Any]
    job: Any = None


class Batcher:
    """Queue + worker for one model; `embed` is what request handlers call."""

    def __init__(
        self,
        run: RunFn,
        config: BatchConfig,
        *,
        name: str,
        on_batch: Callable[[int], None] | None = None,
        finish: FinishFn | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._run = run
        self._finish = finish
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Item] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.executor: ThreadPoolExecutor | None = None  # the one thread that runs the model
        self.batches_run = 0
        self.batches_failed = 0
        self.items_run = 0
        self.batch_sizes: Counter[int] = Counter()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    @property
    def max_batch_seen(self) -> int:
        return max(self.batch_sizes, default=0)

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    async def start(self) -> None:
        """Create the queue, the model thread and the worker on the running loop."""
        self._queue = asyncio.Queue(maxsize=self.config.queue_size)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batcher-{self.name}")
        self._worker = asyncio.create_task(self._work(self._queue), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        """Stop the worker, fail whatever is still queued, and let the model thread finish its call."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        while self._queue is not None and not self._queue.empty():
            _fail([self._queue.get_nowait()], NotRunning, f"{self.name}: service is stopping")
        if self.executor is not None:
            await asyncio.to_thread(self.executor.shutdown, wait=True, cancel_futures=True)
            self.executor = None

    def enqueue(
        self, arrays: Sequence[np.ndarray], jobs: Sequence[Any] | None = None
    ) -> list[asyncio.Future[Any]]:
        """Queue every array (with its job for `finish`, if any) or none: raises `Overloaded` when the queue
        lacks room for all of them."""
        if not self.running or self._queue is None:
            raise NotRunning(f"{self.name}: the batcher is not running")
        free = self._queue.maxsize - self._queue.qsize()
        if len(arrays) > free:
            raise Overloaded(f"{self.name}: queue full ({self._queue.qsize()} waiting); retry shortly")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []
        for array, job in zip(arrays, jobs if jobs is not None else [None] * len(arrays), strict=True):
            futures.append(loop.create_future())
            self._queue.put_nowait(_Item(array, futures[-1], job))
        return futures

    async def embed(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Embed each (C, H, W) array, possibly across several batches; returns (n, dim) in input order."""
        return np.stack(await self._wait(self.enqueue(arrays)))

    async def process(self, arrays: Sequence[np.ndarray], jobs: Sequence[Any]) -> list[Any]:
        """Embed each array and hand it with its job to `finish`; returns finish's answers in input order."""
        if self._finish is None:
            raise ValueError(f"{self.name}: this batcher has no finish step")
        return await self._wait(self.enqueue(arrays, jobs))

    async def _wait(self, futures: list[asyncio.Future[Any]]) -> list[Any]:
        try:
            async with asyncio.timeout(self.config.timeout_s):
                results = await asyncio.gather(*futures, return_exceptions=True)
        except TimeoutError:
            for future in futures:
                future.cancel()
            raise BatchFailed(f"{self.name}: no answer within {self.config.timeout_s:g} s") from None
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    async def _work(self, queue: asyncio.Queue[_Item]) -> None:
        while True:
            items = await self._collect(queue)
            try:
                await self._run_batch(items)
            except asyncio.CancelledError:
                _fail(items, NotRunning, f"{self.name}: service is stopping")
                raise
            except Exception as exc:  # the worker must outlive any one batch
                log.exception("%s: batch bookkeeping failed", self.name)
                _fail(items, BatchFailed, f"{self.name}: batch failed: {exc}")

    async def _collect(self, queue: asyncio.Queue[_Item]) -> list[_Item]:
        """The first item, then whatever arrives until the batch is full or the wait is over."""
        loop = asyncio.get_running_loop()
        batch = [await queue.get()]
        deadline = loop.time() + self.config.max_wait_ms / 1000.0
        try:
            while len(batch) < self.config.max_batch:
                if not queue.empty():
                    batch.append(queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        batch.append(await queue.get())
                except TimeoutError:
                    break
        except asyncio.CancelledError:  # stopped while gathering: what was taken off the queue must not hang
            _fail(batch, NotRunning, f"{self.name}: service is stopping")
            raise
        return [item for item in batch if not item.future.done()]

    async def _run_batch(self, items: list[_Item]) -> None:
        if not items:
            return
        self._record(len(items))
        loop = asyncio.get_running_loop()
        try:
            out = await loop.run_in_executor(self.executor, self._run_and_finish, items)
        except Exception as exc:
            self.batches_failed += 1
            log.warning("%s: batch of %d failed: %s", self.name, len(items), exc)
            _fail(items, BatchFailed, f"{self.name}: inference failed for a batch of {len(items)}: {exc}")
            return
        for item, result in zip(items, out, strict=True):
            if item.future.done():
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    def _run_and_finish(self, items: list[_Item]) -> list[Any]:
        """On the model thread: stack (a batch can be large), run, then `finish` the items that carry jobs."""
        out = self._run(np.stack([item.array for item in items]))
        if len(out) != len(items):
            raise ValueError(f"model returned {len(out)} rows for {len(items)} inputs")
        jobs = [item.job for item in items]
        if self._finish is None or all(job is None for job in jobs):
            return list(out)
        return self._finish(out, jobs)

    def _record(self, size: int) -> None:
        self.batches_run += 1
        self.items_run += size
        self.batch_sizes[size] += 1
        if self._on_batch is not None:
            self._on_batch(size)


def _fail(items: Sequence[_Item], error: type[Exception], message: str) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_exception(error(message))
