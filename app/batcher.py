"""Dynamic batcher: requests from concurrent clients are embedded together in one model call.

Three stages, each on its own thread or task, with typed hand-offs:

1. **collect** (`_collect`, a task on the event loop): items -> one batch. A bounded queue (full ->
   `Overloaded`, HTTP 429; `admit` checks room before a request pays for decoding); the batch is up to
   `max_batch` items, gathered for at most `max_wait_ms` after the first.
2. **embed** (`EmbedFn`, on the model thread): the batch's stacked inputs (n, C, H, W) -> embeddings (n, dim),
   one model call. A failed call fails every item in it.
3. **postprocess** (`PostprocessFn[JobT, ResultT]`, on a thread of its own): the whole batch's embeddings
   and each item's job -> one `ResultT` (or an exception, which fails that item alone) per item. The service
   passes `app.search.finish_searches`: `SearchJob -> list[Candidate] | Deferred`, one gallery search per
   gallery per batch. Items without a job (`embed`) skip it and get their embedding.

Embed and postprocess overlap (the model goes on with the next batch meanwhile), but the worker takes the
next batch off the queue only while at most `MAX_POSTPROCESSING` earlier batches are still in postprocess, so
when postprocess is the slower stage the model waits for it instead of running ahead, and requests wait in
the bounded queue. Results are set on the event loop; every request's wait is bounded (`timeout_s`).

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
from typing import Any, Generic, TypeVar

import numpy as np

from app.errors import BatchFailed, NotRunning, Overloaded

log = logging.getLogger(__name__)
MAX_POSTPROCESSING = 1  # batches that may still be in postprocess when the worker takes the next one

JobT = TypeVar("JobT")  # what an item asks of postprocess (the service: `app.search.SearchJob`)
ResultT = TypeVar("ResultT")  # what postprocess answers per item (the service: `list[Candidate] | Deferred`)
EmbedFn = Callable[[np.ndarray], np.ndarray]  # stage 2: inputs (n, C, H, W) -> embeddings (n, dim)
# stage 3: (embeddings (n, dim), each item's job or None) -> per item its result, its embedding (no job),
# or the exception that fails it alone
PostprocessFn = Callable[[np.ndarray, Sequence[JobT | None]], list[ResultT | np.ndarray | BaseException]]


@dataclass(frozen=True)
class BatchConfig:
    """Batching limits (from SG_MAX_BATCH, SG_MAX_WAIT_MS, SG_QUEUE_SIZE) and the per-request wait bound."""

    max_batch: int = 32
    max_wait_ms: float = 0.0
    queue_size: int = 1024
    timeout_s: float = 30.0


@dataclass(frozen=True)
class _Item(Generic[JobT]):
    array: np.ndarray
    future: asyncio.Future[Any]
    job: JobT | None = None


class Batcher(Generic[JobT, ResultT]):
    """Queue + worker for one model; `embed` and `process` are what request handlers call."""

    def __init__(
        self,
        run: EmbedFn,
        config: BatchConfig,
        *,
        name: str,
        on_batch: Callable[[int], None] | None = None,
        postprocess: PostprocessFn[JobT, ResultT] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._run = run
        self._postprocess = postprocess
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Item[JobT]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.executor: ThreadPoolExecutor | None = None  # the one thread that runs the model
        self._postprocessor: ThreadPoolExecutor | None = None  # the one thread that runs postprocess
        self._postprocessing: deque[asyncio.Future[list[Any]]] = deque()
        self._background: deque[_Item[JobT]] = deque()  # the background lane, outside the bounded queue
        self._wake: _Item[JobT] | None = None  # queued to wake an idle worker for background items
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
    def postprocessing(self) -> int:
        """Batches past the model whose postprocess has not answered yet."""
        return len(self._postprocessing)

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    async def start(self) -> None:
        """Create the queue, the model and postprocess threads and the worker on the running loop."""
        self._queue = asyncio.Queue(maxsize=self.config.queue_size)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batcher-{self.name}")
        if self._postprocess is not None:
            self._postprocessor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"postprocess-{self.name}"
            )
        self._worker = asyncio.create_task(self._work(self._queue), name=f"batcher-{self.name}")
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)  # an item already answered: the collector drops it
        self._wake = _Item(np.empty(0, dtype=np.float32), done)

    async def stop(self) -> None:
        """Stop the worker, fail whatever is still queued, and let the model and postprocess threads end their
        calls (batches already past the model still get their answers)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        _fail(list(self._background), NotRunning, f"{self.name}: service is stopping")
        self._background.clear()
        while self._queue is not None and not self._queue.empty():
            _fail([self._queue.get_nowait()], NotRunning, f"{self.name}: service is stopping")
        if self._postprocessing:
            await asyncio.wait(list(self._postprocessing))
        for executor in (self.executor, self._postprocessor):
            if executor is not None:
                await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        self.executor = self._postprocessor = None

    def enqueue(
        self, arrays: Sequence[np.ndarray], jobs: Sequence[JobT | None] | None = None
    ) -> list[asyncio.Future[Any]]:
        """Queue every array (with its job for postprocess, if any) or none: raises `Overloaded` when the
        queue lacks room for all of them."""
        queue = self.admit(len(arrays))
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []
        for array, job in zip(arrays, jobs if jobs is not None else [None] * len(arrays), strict=True):
            futures.append(loop.create_future())
            queue.put_nowait(_Item(array, futures[-1], job))
        return futures

    def admit(self, count: int) -> asyncio.Queue[_Item[JobT]]:
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

    def _take_background(self) -> list[_Item[JobT]]:
        """Up to `max_batch` background items (callers that gave up are dropped)."""
        batch: list[_Item[JobT]] = []
        while self._background and len(batch) < self.config.max_batch:
            item = self._background.popleft()
            if not item.future.done():
                batch.append(item)
        return batch

    async def embed(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Embed each (C, H, W) array, possibly across several batches; returns (n, dim) in input order."""
        return np.stack(await self._wait(self.enqueue(arrays)))

    async def process(self, arrays: Sequence[np.ndarray], jobs: Sequence[JobT]) -> list[ResultT]:
        """Embed each array and hand it with its job to postprocess; returns its answers in input order."""
        if self._postprocess is None:
            raise ValueError(f"{self.name}: this batcher has no postprocess stage")
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

    async def _work(self, queue: asyncio.Queue[_Item[JobT]]) -> None:
        while True:
            while len(self._postprocessing) > MAX_POSTPROCESSING:  # postprocess is the slower stage: wait
                await asyncio.wait([self._postprocessing[0]])
            items = await self._collect(queue)
            try:
                await self._run_batch(items)
            except asyncio.CancelledError:
                _fail(items, NotRunning, f"{self.name}: service is stopping")
                raise
            except Exception as exc:  # the worker must outlive any one batch
                log.exception("%s: batch bookkeeping failed", self.name)
                _fail(items, BatchFailed, f"{self.name}: batch failed: {exc}")

    async def _collect(self, queue: asyncio.Queue[_Item[JobT]]) -> list[_Item[JobT]]:
        """Stage 1: the first item, then whatever arrives until the batch is full or the wait is over; a
        background batch only when no live item waits."""
        loop = asyncio.get_running_loop()
        if queue.empty() and self._background:
            return self._take_background()
        first = await queue.get()
        while first is self._wake:  # a wake-up for the background lane: live items queued behind it go first
            if queue.empty():
                return self._take_background()
            first = queue.get_nowait()
        batch = [first]
        deadline = loop.time() + self.config.max_wait_ms / 1000.0
        try:
            while len(batch) < self.config.max_batch:
                if not queue.empty():
                    item = queue.get_nowait()
                else:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        async with asyncio.timeout(remaining):
                            item = await queue.get()
                    except TimeoutError:
                        break
                if item is not self._wake:  # the lane's turn comes once no live item waits
                    batch.append(item)
        except asyncio.CancelledError:  # stopped while gathering: what was taken off the queue must not hang
            _fail(batch, NotRunning, f"{self.name}: service is stopping")
            raise
        return [item for item in batch if not item.future.done()]

    async def _run_batch(self, items: list[_Item[JobT]]) -> None:
        """Stage 2 on the model thread, then stage 3 handed to the postprocess thread (not awaited)."""
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
        if self._postprocess is None or all(job is None for job in jobs):
            _deliver(items, list(out))
            return
        postprocessing = loop.run_in_executor(self._postprocessor, self._postprocess, out, jobs)
        self._postprocessing.append(postprocessing)
        postprocessing.add_done_callback(partial(self._on_postprocessed, items))

    def _run_model(self, items: list[_Item[JobT]]) -> np.ndarray:
        """On the model thread: stack (a batch can be large) and run."""
        out = self._run(np.stack([item.array for item in items]))
        if len(out) != len(items):
            raise ValueError(f"model returned {len(out)} rows for {len(items)} inputs")
        return out

    def _on_postprocessed(self, items: list[_Item[JobT]], postprocessing: asyncio.Future[list[Any]]) -> None:
        """On the loop, when postprocess is done with a batch: answer its items. A done-callback's exception
        would only be logged by the loop, leaving the items to time out, so every failure answers them."""
        self._postprocessing.remove(postprocessing)
        try:
            if postprocessing.cancelled():
                _fail(items, NotRunning, f"{self.name}: service is stopping")
            elif (exc := postprocessing.exception()) is not None:
                self._fail_batch(items, f"postprocessing a batch of {len(items)} failed", exc)
            else:
                results = list(postprocessing.result())
                if len(results) != len(items):
                    raise ValueError(f"postprocess answered {len(results)} items for {len(items)}")
                _deliver(items, results)
        except Exception as exc:
            self._fail_batch(items, "postprocess answered badly", exc)

    def _fail_batch(self, items: list[_Item[JobT]], what: str, exc: BaseException) -> None:
        self.batches_failed += 1
        log.warning("%s: %s: %s", self.name, what, exc)
        _fail(items, BatchFailed, f"{self.name}: {what}: {exc}")

    def _record(self, size: int) -> None:
        self.batches_run += 1
        self.items_run += size
        self.batch_sizes[size] += 1
        if self._on_batch is not None:
            self._on_batch(size)


def _deliver(items: Sequence[_Item[Any]], results: Sequence[Any]) -> None:
    """Each item's result, or its exception; items whose caller gave up are skipped."""
    for item, result in zip(items, results, strict=True):
        if item.future.done():
            continue
        if isinstance(result, BaseException):
            item.future.set_exception(result)
        else:
            item.future.set_result(result)


def _fail(items: Sequence[_Item[Any]], error: type[Exception], message: str) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_exception(error(message))
