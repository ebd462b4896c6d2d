"""Training in several processes at once on shared vectors (Hogwild, as gensim's
worker threads; tinytensor's grad mode is global to a process, so one process
cannot run two graphs at once).

The embedding tables move into shared memory; `workers` forked processes take
the batches of whole chunks from a queue, train them and update the shared rows
without locks, and report (loss, examples, words) per batch back. Updates of
concurrent batches interleave, so such runs are not reproducible.
"""
import itertools
import mmap
import multiprocessing
import queue
import traceback

import numpy as np

__all__ = ["fork_available", "share_memory", "run_processes"]


def fork_available():
    """Whether this system can fork processes (Linux, macOS; not Windows)."""
    return "fork" in multiprocessing.get_all_start_methods()


def share_memory(tensor):
    """Move a CPU tensor's values into an anonymous shared memory mapping (in place:
    the tensor keeps its identity), so processes forked afterwards read and write
    the same array."""
    array = tensor.data
    base = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap):
        return                                          # already shared
    shared = np.frombuffer(mmap.mmap(-1, max(array.nbytes, 1)), dtype=array.dtype,
                           count=array.size).reshape(array.shape)
    shared[...] = array
    tensor.data = shared


def run_processes(train_batch, tables, jobs, stats, rngs):
    """Train the batches `jobs` yields in one forked process per generator of `rngs`.

    train_batch(ids, sentence, radius, start, stop, lr, rng) -> (loss, examples)
    trains one batch in place on `tables` (moved to shared memory first);
    stats.add(loss, examples, words) is called, in this process, for each batch
    done. A failure in a worker is raised here as a RuntimeError with its traceback.
    """
    for table in tables:
        share_memory(table)
    context = multiprocessing.get_context("fork")
    work, results = context.Queue(maxsize=2 * len(rngs)), context.Queue()
    processes = [context.Process(target=_worker, args=(train_batch, work, results, rng),
                                 daemon=True) for rng in rngs]
    for process in processes:
        process.start()
    running, failure = len(processes), None

    def collect(block):
        """Take the workers' messages; with block=True, until they have all exited."""
        nonlocal running, failure
        while running:
            try:
                message = results.get(timeout=0.5) if block else results.get_nowait()
            except queue.Empty:
                if not block:
                    return
                if not any(process.is_alive() for process in processes):
                    failure = failure or "a worker process died without a message"
                    return
                continue
            if message[0] == "batch":
                stats.add(*message[1:])
            elif message[0] == "error":
                failure = failure or message[1]
            else:  # "exit"
                running -= 1

    def send(item, stop_on_failure=True):
        """Queue a chunk (or the end mark); returns False if no worker is left to take it."""
        while True:
            try:
                work.put(item, timeout=0.05)
                return True
            except queue.Full:
                collect(block=False)
                if stop_on_failure and failure:
                    raise RuntimeError(f"a Word2Vec worker process failed:\n{failure}")
                if not any(process.is_alive() for process in processes):
                    return False
    try:
        chunk = None
        for job in itertools.chain(jobs, [None]):
            # the batches of one chunk (the same arrays) travel as one message
            if chunk is not None and (job is None or job[0] is not chunk[0]):
                if not send(chunk):
                    break
                collect(block=False)
                chunk = None
            if job is None:
                break
            if chunk is None:
                chunk = (job[0], job[1], job[2], [])
            chunk[3].append(job[3:])
    finally:
        for _ in processes:
            if not send(None, stop_on_failure=False):
                break
        collect(block=True)
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
    if failure:
        raise RuntimeError(f"a Word2Vec worker process failed:\n{failure}")


def _worker(train_batch, work, results, rng):
    """The loop of one worker process (see run_processes)."""
    failed = False
    while True:
        chunk = work.get()
        if chunk is None:
            results.put(("exit",))
            return
        if failed:
            continue
        ids, sentence, radius, batches = chunk
        try:
            for start, stop, lr, words in batches:
                loss, examples = train_batch(ids, sentence, radius, start, stop, lr, rng)
                results.put(("batch", loss, examples, words))
        except BaseException:
            failed = True
            results.put(("error", traceback.format_exc()))
