"""The generation engine: one MLX worker thread, a FIFO queue in front, events back to asyncio.

All MLX work runs on one thread (`MlxThread`, worker.py), for every model. Why not one per
model: MLX evaluation from several threads at once is not documented as safe (it worked on the
CPU backend here, but Metal is the main target), the machine has one GPU (or a few CPU cores)
that concurrent generations would only share, and one thread makes the LRU bound strict: a
model is only evicted between jobs, never under a running generation. So generations run one
at a time, for each model and overall, in arrival order.

Why the queue never stalls behind an abandoned request: every job has a stop flag that the
request handler sets when its client goes away (or when it finishes, whichever comes first).
The worker checks it before starting a job, during prompt processing, and after every token,
so an abandoned job frees the worker within one token.

Per job the worker emits, in order: `Started` (the model is loaded and the prompt rendered;
HTTP status can still be chosen), any number of `Piece`s, then `Finished`; or `Failed` at any
point before `Finished`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from .discovery import LocalModel
from .errors import BadRequest, LocalError
from .mlxapi import mlx_api, mlx_status, supports_model_type
from .params import ChatParams
from .pool import LoadedModel, ModelPool
from .stops import StopMatcher
from .worker import MlxThread

__all__ = [
    "Engine",
    "Failed",
    "Finished",
    "GenerationRecord",
    "Piece",
    "Started",
    "mlx_status",
    "supports_model_type",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    prompt_tokens: int


@dataclass(frozen=True)
class Piece:
    text: str


@dataclass(frozen=True)
class Finished:
    finish_reason: str  # "stop" | "length" | "cancelled" (the client went away)
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    error: LocalError


Event = Started | Piece | Finished | Failed


@dataclass(frozen=True)
class GenerationRecord:
    """What one job did; the engine keeps the last few (for inspection and tests)."""

    model_id: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float


class _Abandoned(Exception):
    """Raised inside prompt processing when the client has gone away."""


@dataclass(eq=False)  # compared and hashed by identity: jobs live in a set
class _Job:
    model: LocalModel
    params: ChatParams
    emit: Callable[[Event], None]
    stop: threading.Event = field(default_factory=threading.Event)


class Engine:
    """Queue generations for the worker thread; `generate()` gives the caller its events."""

    def __init__(self, max_loaded: int = 1, history: int = 32) -> None:
        self.pool = ModelPool(max_loaded)
        self.history: deque[GenerationRecord] = deque(maxlen=history)
        self._worker: MlxThread | None = None  # started by the first job
        self._jobs: set[_Job] = set()

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._worker is None:
            # At exit without close(), the atexit path must not wait for a long generation.
            self._worker = MlxThread(on_exit=self.pool.clear, on_stop=self.cancel_all)
        self._worker.submit(fn, *args)

    def set_max_loaded(self, max_loaded: int) -> None:
        """Change the bound; the eviction runs on the worker, after the current job."""
        if self._worker is None:
            self.pool.resize(max_loaded)  # nothing loaded yet, nothing to evict
        else:
            self._worker.submit(self.pool.resize, max_loaded)

    @contextlib.asynccontextmanager
    async def generate(
        self, model: LocalModel, params: ChatParams
    ) -> AsyncIterator[AsyncIterator[Event]]:
        """Queue a generation; leaving the block (for any reason) stops it."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue()

        def emit(event: Event) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                job.stop.set()

        job = _Job(model, params, emit)
        self._jobs.add(job)
        self._submit(self._run, job)
        try:
            yield self._events(queue)
        finally:
            job.stop.set()
            self._jobs.discard(job)

    @staticmethod
    async def _events(queue: asyncio.Queue[Event]) -> AsyncIterator[Event]:
        while True:
            event = await queue.get()
            yield event
            if isinstance(event, Finished | Failed):
                return

    def cancel_all(self) -> None:
        """Set every queued or running job's stop flag; each ends within a token."""
        for job in list(self._jobs):
            job.stop.set()

    async def close(self) -> None:
        """Stop every job, unload every model, end the worker thread (a new job restarts it)."""
        self.cancel_all()
        if self._worker is not None:
            worker, self._worker = self._worker, None
            # Queued jobs see their stop flag and return at once; don't block the loop on them.
            await asyncio.to_thread(worker.stop)

    # Everything below runs on the worker thread.

    def _run(self, job: _Job) -> None:
        started = time.monotonic()
        prompt_tokens = completion_tokens = 0
        reason = "cancelled"
        try:
            if job.stop.is_set():
                return
            loaded = self.pool.get(job.model)
            prompt = loaded.render(job.params.messages, job.params.tools)
            prompt_tokens = len(prompt)
            generation = self._prepare(loaded, prompt, job)
            job.emit(Started(prompt_tokens))
            reason, completion_tokens = self._stream(generation, job)
        except _Abandoned:
            reason = "cancelled"
        except LocalError as exc:
            reason = "error"
            job.emit(Failed(exc))
        except Exception as exc:
            log.exception("generation with %s failed", job.model.id)
            reason = "error"
            job.emit(Failed(LocalError(f"generation with {job.model.id} failed: {exc}")))
        finally:
            self.history.append(
                GenerationRecord(
                    job.model.id,
                    reason,
                    prompt_tokens,
                    completion_tokens,
                    time.monotonic() - started,
                )
            )
        if reason != "error":
            # Also when cancelled: a handler still listening (the backend is stopping) ends.
            job.emit(Finished(reason, prompt_tokens, completion_tokens))

    def _prepare(self, loaded: LoadedModel, prompt: list[int], job: _Job) -> Any:
        api = mlx_api()
        params = job.params
        bad_ids = [t for t in params.logit_bias if t >= loaded.vocab_size]
        if bad_ids:
            raise BadRequest(
                f"logit_bias: token ids {bad_ids} are outside the vocabulary "
                f"(0..{loaded.vocab_size - 1})",
                param="logit_bias",
            )
        if params.seed is not None:
            api.mx.random.seed(params.seed)

        def progress(_done: int, _total: int) -> None:
            # Called between prompt-processing steps: a long prompt is abandoned mid-way too.
            if job.stop.is_set():
                raise _Abandoned

        return api.stream_generate(
            loaded.nn,
            loaded.tokenizer,
            api.mx.array(prompt),
            max_tokens=params.max_tokens,
            sampler=api.make_sampler(temp=params.temperature, top_p=params.top_p),
            logits_processors=api.make_logits_processors(
                logit_bias=params.logit_bias or None,
                presence_penalty=params.presence_penalty,
                frequency_penalty=params.frequency_penalty,
            ),
            prompt_progress_callback=progress,
        )

    @staticmethod
    def _stream(generation: Any, job: _Job) -> tuple[str, int]:
        """Run the generator to its end, a stop string, or the client leaving."""
        matcher = StopMatcher(job.params.stop)
        reason, count = "length", 0
        with contextlib.closing(generation):
            for response in generation:
                # mlx_lm counts every sampled token, the final EOS included.
                count = response.generation_tokens
                if job.stop.is_set():
                    return "cancelled", count
                if text := matcher.feed(response.text):
                    job.emit(Piece(text))
                if matcher.stopped:
                    return "stop", count
                reason = response.finish_reason or reason
        if tail := matcher.flush():
            job.emit(Piece(tail))
        return reason, count
