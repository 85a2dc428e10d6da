"""Dynamic batcher: requests from concurrent clients are embedded together in one model call.

One future per item; a bounded queue (full -> `Overloaded`, HTTP 429); one worker task that takes up
to `max_batch` items, waiting at most `max_wait_ms` after the first; the model runs on the batcher's own
thread and results are set on the event loop. A failed batch fails every item in it; every request's wait
is bounded (`timeout_s`).

An item may carry a job for `finish`, which gets the whole batch's embeddings (the service searches each
gallery once per batch there). `finish` runs on a second thread of its own, so the model goes on with the
next batch meanwhile: a two-stage pipeline. The worker takes the next batch off the queue only while at most
`MAX_UNFINISHED` earlier batches are still in `finish`, so when `finish` is the slower stage the model waits
for it instead of running ahead, and requests wait in the bounded queue. `finish` answers per item, and an
exception it answers for one item fails that item alone.

A background lane (`embed_background`, a model migration's re-embedding) lies outside the bounded queue: its
items run in batches of their own, taken only when no live item is waiting, so a live request waits for at
most one background batch already on the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from app.errors import BatchFailed, NotRunning, Overloaded

log = logging.getLogger(__name__)
MAX_UNFINISHED = 1  # batches that may still be in `finish` when the worker takes the next one

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
        self._finisher: ThreadPoolExecutor | None = None  # the one thread that runs `finish`
        self._unfinished: deque[asyncio.Future[list[Any]]] = deque()
        self._background: deque[_Item] = deque()  # the background lane, outside the bounded queue
        self._wake: _Item | None = None  # queued to wake an idle worker for background items
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
    def finishing(self) -> int:
        """Batches past the model whose `finish` has not answered yet."""
        return len(self._unfinished)

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    async def start(self) -> None:
        """Create the queue, the model and finish threads and the worker on the running loop."""
        self._queue = asyncio.Queue(maxsize=self.config.queue_size)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batcher-{self.name}")
        if self._finish is not None:
            self._finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"finish-{self.name}")
        self._worker = asyncio.create_task(self._work(self._queue), name=f"batcher-{self.name}")
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)  # an item already answered: the collector drops it
        self._wake = _Item(np.empty(0, dtype=np.float32), done)

    async def stop(self) -> None:
        """Stop the worker, fail whatever is still queued, and let the model and finish threads end their calls
        (batches already past the model still get their answers)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        _fail(list(self._background), NotRunning, f"{self.name}: service is stopping")
        self._background.clear()
        while self._queue is not None and not self._queue.empty():
            _fail([self._queue.get_nowait()], NotRunning, f"{self.name}: service is stopping")
        if self._unfinished:
            await asyncio.wait(list(self._unfinished))
        for executor in (self.executor, self._finisher):
            if executor is not None:
                await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        self.executor = self._finisher = None

    def enqueue(
        self, arrays: Sequence[np.ndarray], jobs: Sequence[Any] | None = None
    ) -> list[asyncio.Future[Any]]:
        """Queue every array (with its job for `finish`, if any) or none: raises `Overloaded` when the queue
        lacks room for all of them."""
        queue = self.admit(len(arrays))
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []
        for array, job in zip(arrays, jobs if jobs is not None else [None] * len(arrays), strict=True):
            futures.append(loop.create_future())
            queue.put_nowait(_Item(array, futures[-1], job))
        return futures

    def admit(self, count: int) -> asyncio.Queue[_Item]:
        """The queue, if it has room for `count` items now; else `Overloaded` (or `NotRunning`).

        Also called from the decode threads before decoding, so an overloaded service sheds a request before
        paying for its images: a read of the queue's length, which may be stale by the time the items are
        queued (`enqueue` checks again)."""
        queue = self._queue
        if not self.running or queue is None:
            raise NotRunning(f"{self.name}: the batcher is not running")
        if count > queue.maxsize - queue.qsize():
            raise Overloaded(f"{self.name}: queue full ({queue.qsize()} waiting); retry shortly")
        return queue

    async def embed_background(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """`embed` at the lowest priority: in batches of their own, only while no live item waits."""
        queue = self.admit(0)
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = [loop.create_future() for _ in arrays]
        self._background.extend(_Item(array, future) for array, future in zip(arrays, futures, strict=True))
        if queue.empty() and self._wake is not None:  # the worker may be waiting on the empty queue
            queue.put_nowait(self._wake)
        return np.stack(await self._wait(futures))

    def _take_background(self) -> list[_Item]:
        batch: list[_Item] = []
        while self._background and len(batch) < self.config.max_batch:
            item = self._background.popleft()
            if not item.future.done():
                batch.append(item)
        return batch

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
            while len(self._unfinished) > MAX_UNFINISHED:  # `finish` is the slower stage: do not run ahead
                await asyncio.wait([self._unfinished[0]])
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
        if queue.empty() and self._background:
            return self._take_background()
        batch = [await queue.get()]
        if batch[0] is self._wake:
            return self._take_background()
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
            out = await loop.run_in_executor(self.executor, self._run_model, items)
        except Exception as exc:
            self._fail_batch(items, f"inference failed for a batch of {len(items)}", exc)
            return
        jobs = [item.job for item in items]
        if self._finish is None or all(job is None for job in jobs):
            _deliver(items, list(out))
            return
        finishing = loop.run_in_executor(self._finisher, self._finish, out, jobs)
        self._unfinished.append(finishing)
        finishing.add_done_callback(partial(self._on_finished, items))

    def _run_model(self, items: list[_Item]) -> np.ndarray:
        """On the model thread: stack (a batch can be large) and run."""
        out = self._run(np.stack([item.array for item in items]))
        if len(out) != len(items):
            raise ValueError(f"model returned {len(out)} rows for {len(items)} inputs")
        return out

    def _on_finished(self, items: list[_Item], finishing: asyncio.Future[list[Any]]) -> None:
        """On the loop, when `finish` is done with a batch: answer its items. A done-callback's exception
        would only be logged by the loop, leaving the items to time out, so every failure answers them."""
        self._unfinished.remove(finishing)
        try:
            if finishing.cancelled():
                _fail(items, NotRunning, f"{self.name}: service is stopping")
            elif (exc := finishing.exception()) is not None:
                self._fail_batch(items, f"finishing a batch of {len(items)} failed", exc)
            else:
                results = list(finishing.result())
                if len(results) != len(items):
                    raise ValueError(f"finish answered {len(results)} items for {len(items)}")
                _deliver(items, results)
        except Exception as exc:
            self._fail_batch(items, "finish answered badly", exc)

    def _fail_batch(self, items: list[_Item], what: str, exc: BaseException) -> None:
        self.batches_failed += 1
        log.warning("%s: %s: %s", self.name, what, exc)
        _fail(items, BatchFailed, f"{self.name}: {what}: {exc}")

    def _record(self, size: int) -> None:
        self.batches_run += 1
        self.items_run += size
        self.batch_sizes[size] += 1
        if self._on_batch is not None:
            self._on_batch(size)


def _deliver(items: Sequence[_Item], results: Sequence[Any]) -> None:
    """Each item's result, or its exception; items whose caller gave up are skipped."""
    for item, result in zip(items, results, strict=True):
        if item.future.done():
            continue
        if isinstance(result, BaseException):
            item.future.set_exception(result)
        else:
            item.future.set_result(result)


def _fail(items: Sequence[_Item], error: type[Exception], message: str) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_exception(error(message))
