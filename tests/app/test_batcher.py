"""The dynamic batcher on its own: grouping, the bounded queue, failed batches, stopping."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest

from app.batcher import BatchConfig, Batcher
from app.errors import BatchFailed, NotRunning, Overloaded


def row_sums(batch: np.ndarray) -> np.ndarray:
    """A stand-in model with a known answer: each item's sum, as a 1-d embedding."""
    return batch.reshape(len(batch), -1).sum(axis=1, keepdims=True)


@pytest.fixture
async def make_batcher() -> AsyncIterator[Callable[..., Batcher]]:
    started: list[Batcher] = []

    def make(
        run: Callable[[np.ndarray], np.ndarray] = row_sums, *, postprocess=None, **config: float
    ) -> Batcher:
        batcher = Batcher(run, BatchConfig(**config), name="test", postprocess=postprocess)
        started.append(batcher)
        return batcher

    yield make
    for batcher in started:
        await batcher.stop()


async def test_embed_concurrent_items_runs_them_in_few_batches(make_batcher):
    batcher = make_batcher(max_batch=16, max_wait_ms=50)
    await batcher.start()
    arrays = [np.full((2, 2), i, dtype=np.float32) for i in range(32)]
    results = await asyncio.gather(*(batcher.embed([a]) for a in arrays))
    assert [float(r[0, 0]) for r in results] == [4.0 * i for i in range(32)]
    assert batcher.items_run == 32
    assert batcher.batches_run == 2
    assert batcher.max_batch_seen == 16


async def test_embed_lone_item_waits_at_most_max_wait(make_batcher):
    batcher = make_batcher(max_batch=64, max_wait_ms=30)
    await batcher.start()
    loop = asyncio.get_running_loop()
    start = loop.time()
    out = await batcher.embed([np.ones((2, 2), dtype=np.float32)])
    assert out.tolist() == [[4.0]]
    assert loop.time() - start < 1.0
    assert batcher.batch_sizes == {1: 1}


async def test_enqueue_when_queue_full_raises_overloaded(make_batcher):
    gate = threading.Event()

    def blocked(batch: np.ndarray) -> np.ndarray:
        gate.wait(timeout=10)
        return row_sums(batch)

    batcher = make_batcher(blocked, max_batch=1, max_wait_ms=0, queue_size=2)
    await batcher.start()
    first = asyncio.ensure_future(batcher.embed([np.ones((1,), dtype=np.float32)]))
    while (
        batcher.queue_depth or batcher.batches_run == 0
    ):  # the worker holds item 1 in the blocked model call
        await asyncio.sleep(0.001)
    queued = batcher.enqueue([np.ones((1,), dtype=np.float32)] * 2)
    with pytest.raises(Overloaded):
        batcher.enqueue([np.ones((1,), dtype=np.float32)])
    gate.set()
    assert (await first).tolist() == [[1.0]]
    assert [(await f).tolist() for f in queued] == [[1.0], [1.0]]


async def test_enqueue_more_than_free_slots_queues_nothing(make_batcher):
    batcher = make_batcher(queue_size=3, max_wait_ms=0)
    await batcher.start()
    with pytest.raises(Overloaded):
        batcher.enqueue([np.ones((1,), dtype=np.float32)] * 4)
    assert batcher.queue_depth == 0


async def test_failed_batch_fails_every_request_in_it(make_batcher):
    batcher = make_batcher(max_batch=8, max_wait_ms=200)
    await batcher.start()
    mixed = [np.ones((2, 2), dtype=np.float32), np.ones((3, 3), dtype=np.float32)]  # cannot be stacked
    futures = batcher.enqueue(mixed)
    results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), timeout=5)
    assert all(isinstance(r, BatchFailed) for r in results)
    assert batcher.batches_failed == 1
    assert (await batcher.embed([np.ones((2, 2), dtype=np.float32)])).tolist() == [[4.0]]


async def test_model_error_fails_batch_with_clear_message(make_batcher):
    def broken(batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("device lost")

    batcher = make_batcher(broken, max_wait_ms=0)
    await batcher.start()
    with pytest.raises(BatchFailed, match="device lost"):
        await asyncio.wait_for(batcher.embed([np.ones((1,), dtype=np.float32)]), timeout=5)


async def test_embed_slow_model_times_out_instead_of_hanging(make_batcher):
    gate = threading.Event()
    batcher = make_batcher(lambda b: (gate.wait(timeout=10), row_sums(b))[1], max_wait_ms=0, timeout_s=0.2)
    await batcher.start()
    with pytest.raises(BatchFailed, match="no answer"):
        await batcher.embed([np.ones((1,), dtype=np.float32)])
    gate.set()


async def test_stop_fails_queued_items_and_refuses_new_ones(make_batcher):
    gate = threading.Event()
    batcher = make_batcher(lambda b: (gate.wait(timeout=10), row_sums(b))[1], max_batch=1, max_wait_ms=0)
    await batcher.start()
    futures = batcher.enqueue([np.ones((1,), dtype=np.float32)] * 3)
    while batcher.batches_run == 0:
        await asyncio.sleep(0.001)
    gate.set()
    await batcher.stop()
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert any(isinstance(r, NotRunning) for r in results)
    with pytest.raises(NotRunning):
        batcher.enqueue([np.ones((1,), dtype=np.float32)])


async def test_stop_while_gathering_a_batch_fails_its_items_instead_of_hanging(make_batcher):
    batcher = make_batcher(max_batch=8, max_wait_ms=10_000)
    await batcher.start()
    (future,) = batcher.enqueue([np.ones((1,), dtype=np.float32)])
    while batcher.queue_depth:  # the worker has taken it and waits for more
        await asyncio.sleep(0.001)
    await batcher.stop()
    with pytest.raises(NotRunning):
        await asyncio.wait_for(future, timeout=2)


async def test_process_hands_the_whole_batch_and_its_jobs_to_postprocess_once(make_batcher):
    calls: list[tuple[list[float], list[object]]] = []

    def postprocess(out: np.ndarray, jobs) -> list[object]:
        calls.append((out[:, 0].tolist(), list(jobs)))
        return [row[0] * 10 if job == "x10" else row[0] for row, job in zip(out, jobs, strict=True)]

    batcher = make_batcher(postprocess=postprocess, max_batch=8, max_wait_ms=200)
    await batcher.start()
    ones = np.ones((1,), dtype=np.float32)
    results = await asyncio.gather(
        batcher.process([ones, 2 * ones], ["x10", None]), batcher.process([3 * ones], ["x10"])
    )
    assert results == [[10.0, 2.0], [30.0]]
    assert calls == [([1.0, 2.0, 3.0], ["x10", None, "x10"])]


async def test_process_exception_from_postprocess_fails_only_its_item(make_batcher):
    def postprocess(out: np.ndarray, jobs) -> list[object]:
        return [
            ValueError("gallery gone") if job == "bad" else float(row[0])
            for row, job in zip(out, jobs, strict=True)
        ]

    batcher = make_batcher(postprocess=postprocess, max_batch=8, max_wait_ms=200)
    await batcher.start()
    ones = np.ones((1,), dtype=np.float32)
    good, bad = await asyncio.gather(
        batcher.process([ones], ["ok"]), batcher.process([ones], ["bad"]), return_exceptions=True
    )
    assert good == [1.0]
    assert isinstance(bad, ValueError) and "gallery gone" in str(bad)
    assert batcher.batches_failed == 0


async def test_embed_skips_postprocess_when_no_item_has_a_job(make_batcher):
    def postprocess(out: np.ndarray, jobs) -> list[object]:
        raise AssertionError("postprocess must not run")

    batcher = make_batcher(postprocess=postprocess, max_wait_ms=0)
    await batcher.start()
    assert (await batcher.embed([np.ones((2, 2), dtype=np.float32)])).tolist() == [[4.0]]


async def test_process_without_postprocess_step_raises_value_error(make_batcher):
    batcher = make_batcher()
    await batcher.start()
    with pytest.raises(ValueError, match="no postprocess stage"):
        await batcher.process([np.ones((1,), dtype=np.float32)], ["job"])


def gated_postprocess(gate: threading.Event, calls: list[int]):
    """A postprocess stage that records each batch's size, then holds until `gate` opens; answers each row's sum."""

    def postprocess(out: np.ndarray, jobs) -> list[object]:
        calls.append(len(out))
        gate.wait(timeout=10)
        return [float(row[0]) for row in out]

    return postprocess


def counting(model_calls: list[int]):
    def run(batch: np.ndarray) -> np.ndarray:
        model_calls.append(len(batch))
        return row_sums(batch)

    return run


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)


async def test_model_runs_the_next_batch_while_postprocess_works_on_the_last(make_batcher):
    gate, postprocess_calls, model_calls = threading.Event(), [], []
    batcher = make_batcher(
        counting(model_calls), postprocess=gated_postprocess(gate, postprocess_calls), max_batch=1
    )
    await batcher.start()
    ones = np.ones((1,), dtype=np.float32)
    first = asyncio.ensure_future(batcher.process([ones], ["job"]))
    await until(lambda: postprocess_calls == [1])  # postprocess holds the first batch
    second = asyncio.ensure_future(batcher.process([2 * ones], ["job"]))
    await until(lambda: len(model_calls) == 2)  # the model did not wait for it
    assert not first.done() and not second.done()
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(first, second), timeout=5) == [[1.0], [2.0]]


async def test_model_waits_for_postprocess_when_postprocess_is_the_slower_stage(make_batcher):
    gate, postprocess_calls, model_calls = threading.Event(), [], []
    batcher = make_batcher(
        counting(model_calls), postprocess=gated_postprocess(gate, postprocess_calls), max_batch=1
    )
    await batcher.start()
    ones = np.ones((1,), dtype=np.float32)
    pending = [asyncio.ensure_future(batcher.process([i * ones], ["job"])) for i in range(1, 6)]
    await until(lambda: len(model_calls) == 2)
    await asyncio.sleep(0.1)
    assert len(model_calls) == 2  # one batch in postprocess, one waiting for it: the model stops there
    gate.set()
    results = await asyncio.wait_for(asyncio.gather(*pending), timeout=5)
    assert results == [[1.0], [2.0], [3.0], [4.0], [5.0]]
    assert len(model_calls) == 5


async def test_postprocess_that_raises_fails_its_whole_batch_and_the_batcher_goes_on(make_batcher):
    def postprocess(out: np.ndarray, jobs) -> list[object]:
        if any(job == "explode" for job in jobs):
            raise RuntimeError("index corrupted")
        return [float(row[0]) for row in out]

    batcher = make_batcher(postprocess=postprocess, max_batch=1)
    await batcher.start()
    ones = np.ones((1,), dtype=np.float32)
    with pytest.raises(BatchFailed, match="index corrupted"):
        await asyncio.wait_for(batcher.process([ones], ["explode"]), timeout=5)
    assert batcher.batches_failed == 1
    assert await asyncio.wait_for(batcher.process([ones], ["ok"]), timeout=5) == [1.0]


@pytest.mark.parametrize(
    ("answer", "message"),
    [([], "answered 0 items for 1"), (None, "not iterable"), ([StopIteration()], "StopIteration")],
    ids=["too-few", "not-a-list", "unsettable-exception"],
)
async def test_postprocess_answering_badly_fails_the_batch_at_once(make_batcher, answer, message):
    batcher = make_batcher(postprocess=lambda out, jobs: answer, max_batch=1, timeout_s=5)
    await batcher.start()
    with pytest.raises(BatchFailed, match=message):
        await asyncio.wait_for(batcher.process([np.ones((1,), dtype=np.float32)], ["job"]), timeout=2)


async def test_stop_answers_every_batch_already_past_the_model(make_batcher):
    gate, postprocess_calls = threading.Event(), []
    batcher = make_batcher(postprocess=gated_postprocess(gate, postprocess_calls), max_batch=1)
    await batcher.start()
    ones = np.ones((1,), dtype=np.float32)
    answers = [asyncio.ensure_future(batcher.process([i * ones], ["job"])) for i in (1, 2)]
    await until(
        lambda: batcher.postprocessing == 2 and postprocess_calls == [1]
    )  # one in postprocess, one queued behind
    stopping = asyncio.ensure_future(batcher.stop())
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.wait_for(stopping, timeout=5)
    assert await asyncio.gather(*answers) == [[1.0], [2.0]]


async def test_stop_lets_a_batch_in_postprocess_answer(make_batcher):
    gate, postprocess_calls = threading.Event(), []
    batcher = make_batcher(postprocess=gated_postprocess(gate, postprocess_calls), max_batch=1)
    await batcher.start()
    answer = asyncio.ensure_future(batcher.process([np.ones((1,), dtype=np.float32)], ["job"]))
    await until(lambda: postprocess_calls == [1])
    stopping = asyncio.ensure_future(batcher.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waits for the batch past the model
    gate.set()
    await asyncio.wait_for(stopping, timeout=5)
    assert await answer == [1.0]


def recording(batches: list[list[float]], gate: threading.Event):
    """A model that records each batch's first values and holds its first batch until `gate` opens."""

    def run(batch: np.ndarray) -> np.ndarray:
        batches.append([float(v) for v in batch.reshape(len(batch), -1)[:, 0]])
        if len(batches) == 1:
            gate.wait(timeout=10)
        return row_sums(batch)

    return run


async def test_background_lane_runs_only_when_no_live_request_waits(make_batcher):
    gate, batches = threading.Event(), []
    batcher = make_batcher(recording(batches, gate), max_batch=2, max_wait_ms=0)
    await batcher.start()
    one = np.ones((1,), dtype=np.float32)
    first = asyncio.ensure_future(batcher.embed([one]))
    await until(lambda: len(batches) == 1)  # the model holds the first live item
    background = asyncio.ensure_future(batcher.embed_background([100 * one, 101 * one, 102 * one]))
    await asyncio.sleep(0.01)
    live = [asyncio.ensure_future(batcher.embed([v * one])) for v in (2, 3, 4)]
    await until(lambda: batcher.queue_depth >= 3)
    gate.set()
    assert [float(r[0, 0]) for r in await asyncio.wait_for(asyncio.gather(first, *live), 5)] == [1, 2, 3, 4]
    assert (await asyncio.wait_for(background, 5)).ravel().tolist() == [100.0, 101.0, 102.0]
    # every live item waiting went first, in live batches; the background lane after, in batches of its own
    assert batches == [[1.0], [2.0, 3.0], [4.0], [100.0, 101.0], [102.0]]


async def test_background_lane_wakes_an_idle_batcher_and_yields_to_a_live_arrival(make_batcher):
    gate, batches = threading.Event(), []
    batcher = make_batcher(recording(batches, gate), max_batch=1, max_wait_ms=0)
    await batcher.start()
    one = np.ones((1,), dtype=np.float32)
    background = asyncio.ensure_future(batcher.embed_background([100 * one, 101 * one, 102 * one]))
    await until(lambda: len(batches) == 1)  # idle: the first background batch runs at once, and holds
    live = asyncio.ensure_future(batcher.embed([7 * one]))
    await until(lambda: batcher.queue_depth == 1)
    gate.set()
    assert (await asyncio.wait_for(live, 5)).tolist() == [[7.0]]
    assert (await asyncio.wait_for(background, 5)).ravel().tolist() == [100.0, 101.0, 102.0]
    assert batches == [[100.0], [7.0], [101.0], [102.0]]  # the live item waited for one background batch
    assert batcher.queue_depth == 0
