"""The call engine never hangs and never lets a raw exception out.

Whatever one input's call raises (the input's messages, a plugin hook, a plugin
backend) is that input's error value in ``map``/``amap``, and a chatport error on every
single-call shape; a misbehaving plugin backend (a raising constructor, a wrong return
type, bad chunks) is an ``APIError`` naming the plugin. Ctrl-C still stops a batch.
Every batch here runs under a bound, so a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar, TypeVar

import pytest

import chatport
from chatport import Backend, BackendSettings, Chunk, Completion
from chatport.backends.rest import RestBackend
from chatport.local import Endpoint, Fault, LocalWorkspace
from chatport.testing import FakeBackend, VirtualClock, temporary_plugin

T = TypeVar("T")
MODEL = "hardening-echo"
PLUGIN = "misbehaving"
BOUND = 60.0  # seconds a batch may take before it counts as hung


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The endpoints this module's shared workspace (chatport.testing) serves."""
    return {"endpoints": [Endpoint(MODEL, "echo")], "seed": 5}


def within(work: Callable[[], T], seconds: float = BOUND) -> T:
    """``work()``, run on a thread; the test fails if it has not ended in ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, name="bounded-test-work", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds} s: it hangs")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def run_async(coroutine: Any, seconds: float = BOUND) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, seconds)

    return asyncio.run(bounded())


def messages_that_raise(text: str) -> Iterator[dict[str, str]]:
    """Messages read from a generator that fails part way (a file that went away)."""
    yield {"role": "system", "content": "be brief"}
    raise ValueError(f"cannot read {text}")


class Gremlin(BaseException):
    """A plugin's own BaseException (neither an Exception nor a stop)."""


# -- inputs that raise ----------------------------------------------------------------------


def test_an_input_whose_messages_raise_is_that_inputs_error() -> None:
    inputs: list[Any] = ["first", messages_that_raise("row 2"), "third", 42]
    with chatport.Client(backend="fake", model="m", config={}) as client:
        results = within(lambda: list(client.map(inputs, concurrency=2)))
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert [r.ok for r in results] == [True, False, True, False]
    error = results[1].error
    assert isinstance(error, chatport.InvalidRequestError)
    assert error.field == "messages"
    assert "ValueError: cannot read row 2" in str(error)
    assert isinstance(error.__cause__, ValueError)
    assert isinstance(results[3].error, chatport.InvalidRequestError)


def test_an_input_whose_messages_raise_in_amap() -> None:
    async def main() -> list[chatport.BatchResult]:
        async with chatport.Client(backend="fake", model="m", config={}) as client:
            return [r async for r in client.amap(["a", messages_that_raise("b"), "c"])]

    results = run_async(main())
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, chatport.InvalidRequestError)


@pytest.mark.parametrize("shape", ["complete", "stream", "acomplete", "astream"])
def test_messages_that_raise_are_an_invalid_request_on_every_shape(shape: str) -> None:
    with (
        chatport.Client(backend="fake", model="m", config={}) as client,
        pytest.raises(chatport.InvalidRequestError, match="cannot read q") as info,
    ):
        call(client, shape, messages_that_raise("q"))
    assert isinstance(info.value.__cause__, ValueError)


def test_messages_raising_a_base_exception_are_an_invalid_request() -> None:
    def messages() -> Iterator[dict[str, str]]:
        yield {"role": "user", "content": "hi"}
        raise Gremlin("the source is gone")

    with (
        chatport.Client(backend="fake", model="m", config={}) as client,
        pytest.raises(chatport.InvalidRequestError, match="Gremlin: the source is gone") as info,
    ):
        client.complete(messages())
    assert isinstance(info.value.__cause__, Gremlin)


def test_a_generator_of_messages_reaches_every_fallback() -> None:
    def messages() -> Iterator[dict[str, str]]:
        yield {"role": "user", "content": "hello"}

    fallbacks = [{"backend": "fake", "model": "backup"}]
    with chatport.Client(
        backend="fake", model="m", max_retries=0, fallbacks=fallbacks, config={}
    ) as client:
        fake = client.backend()
        assert isinstance(fake, FakeBackend)
        fake.enqueue(chatport.ServerError("down", status_code=503))
        completion = client.complete(messages())
    assert (completion.model, completion.text) == ("backup", "hello")


def test_an_input_iterator_raising_a_base_exception_is_raised_not_swallowed() -> None:
    def inputs() -> Iterator[str]:
        yield "one"
        raise Gremlin("the reader broke")

    with chatport.Client(backend="fake", model="m", config={}) as client:
        seen: list[chatport.BatchResult] = []

        def consume() -> None:
            seen.extend(client.map(inputs(), concurrency=1))

        with pytest.raises(Gremlin):
            within(consume)
    assert [r.input for r in seen] == ["one"]


# -- hooks that raise a BaseException --------------------------------------------------------


RAISED: dict[str, Callable[[], BaseException]] = {
    "custom": lambda: Gremlin("from a hook"),
    "SystemExit": lambda: SystemExit(3),
    "CancelledError": lambda: asyncio.CancelledError(),
}


def raising_hooks(hook: str, make: Callable[[], BaseException]) -> object:
    """A plugin whose ``hook`` raises what ``make`` makes, for prompts starting "x"."""

    def implementation(self: object, request: Any) -> None:
        if request.messages[-1].text.startswith("x"):
            raise make()

    return type("Grumpy", (), {hook: chatport.hookimpl(implementation)})()


HOOKS = ["chatport_call_start", "chatport_before_request", "chatport_after_completion"]


@pytest.mark.parametrize("kind", list(RAISED))
@pytest.mark.parametrize("hook", [*HOOKS, "chatport_call_end"])
def test_a_hook_raising_a_base_exception_never_stops_the_batch(
    fresh_plugins: None, caplog: pytest.LogCaptureFixture, hook: str, kind: str
) -> None:
    prompts = ["x1", "fine", "x2", "x3", "also fine"]
    with (
        caplog.at_level(logging.WARNING, logger="chatport"),
        temporary_plugin(raising_hooks(hook, RAISED[kind]), name="grumpy"),
        chatport.Client(backend="fake", model="m", config={}) as client,
    ):
        results = within(lambda: list(client.map(prompts, concurrency=3)))
        assert client.complete("x single").text == "x single"
        assert run_async(client.acomplete("x async")).text == "x async"
    assert [r.unwrap().text for r in results] == prompts
    # reported (logged: this suite turns warnings into errors), never fatal
    assert f"plugin 'grumpy' raised in {hook}" in caplog.text


def test_a_wrapper_raising_a_base_exception_is_skipped(fresh_plugins: None) -> None:
    class Wrapper:
        @chatport.hookimpl(wrapper=True)
        def chatport_after_completion(self) -> Iterator[None]:
            raise SystemExit(2)
            yield  # a generator (unreachable)

    with (
        temporary_plugin(Wrapper(), name="exiting"),
        chatport.Client(backend="fake", model="m", config={}) as client,
    ):
        results = within(lambda: list(client.map(["a", "b"])))
    assert [r.unwrap().text for r in results] == ["a", "b"]


def test_ctrl_c_in_a_hook_still_stops_the_batch(fresh_plugins: None) -> None:
    class Interrupted:
        @chatport.hookimpl
        def chatport_before_request(self, request: Any) -> None:
            if request.messages[-1].text == "stop":
                raise KeyboardInterrupt

    with (
        temporary_plugin(Interrupted(), name="ctrl-c"),
        chatport.Client(backend="fake", model="m", config={}) as client,
    ):
        with pytest.raises(KeyboardInterrupt):
            client.complete("stop")
        with pytest.raises(KeyboardInterrupt):
            within(lambda: list(client.map(["a", "stop", *[f"more {i}" for i in range(50)]])))


# -- the plugin boundary: misbehaving backends, on every call shape -------------------------


class Unbuildable(Backend):
    def __init__(self, settings: BackendSettings) -> None:
        raise ValueError("no such region")


class Dicts(Backend):
    capabilities = chatport.Capabilities(streaming=True)

    def complete(self, request: chatport.ChatRequest) -> Completion:
        return {"text": "hi"}  # type: ignore[return-value]

    def stream(self, request: chatport.ChatRequest) -> Iterator[Chunk]:
        yield {"text": "hi"}  # type: ignore[misc]


class Strings(Backend):
    capabilities = chatport.Capabilities(streaming=True, native_async=True)

    def complete(self, request: chatport.ChatRequest) -> Completion:
        return "hi"  # type: ignore[return-value]

    async def acomplete(self, request: chatport.ChatRequest) -> Completion:
        return "hi"  # type: ignore[return-value]

    def stream(self, request: chatport.ChatRequest) -> Iterator[Chunk]:
        yield from "hi"  # type: ignore[misc]

    async def astream(self, request: chatport.ChatRequest) -> AsyncIterator[Chunk]:
        for letter in "hi":
            yield letter  # type: ignore[misc]


class Halfway(Backend):
    """A good first chunk, then a string: the stream breaks after its first chunk."""

    capabilities = chatport.Capabilities(streaming=True)
    closed: ClassVar[list[bool]] = []

    def complete(self, request: chatport.ChatRequest) -> Completion:
        return Completion(text="fine")

    def stream(self, request: chatport.ChatRequest) -> Iterator[Chunk]:
        try:
            yield Chunk(text="good ")
            yield "bad"  # type: ignore[misc]
            yield Chunk(text="never")
        finally:
            Halfway.closed.append(True)


class Misbehaving:
    @chatport.hookimpl
    def chatport_register_backends(self, registry: Any) -> None:
        registry.add("unbuildable", Unbuildable)
        registry.add("dicts", Dicts)
        registry.add("strings", Strings)
        registry.add("halfway", Halfway)


SHAPES = ["complete", "stream", "acomplete", "astream", "map", "amap"]


def call(client: chatport.Client, shape: str, messages: object) -> object:
    """One call of ``messages`` through ``shape``, raising what the caller would see."""
    if shape == "complete":
        return client.complete(messages)
    if shape == "stream":
        return list(client.stream(messages))
    if shape == "acomplete":
        return run_async(client.acomplete(messages))
    if shape == "astream":

        async def chunks() -> list[Chunk]:
            return [chunk async for chunk in client.astream(messages)]

        return run_async(chunks())
    if shape == "map":
        (result,) = within(lambda: list(client.map([messages])))
        return result.unwrap()

    async def mapped() -> list[chatport.BatchResult]:
        return [result async for result in client.amap([messages])]

    (result,) = run_async(mapped())
    return result.unwrap()


@pytest.fixture
def misbehaving(fresh_plugins: None) -> Iterator[None]:
    with temporary_plugin(Misbehaving(), name=PLUGIN):
        yield


@pytest.mark.parametrize("shape", SHAPES)
def test_a_raising_constructor_is_an_api_error_naming_the_plugin(
    misbehaving: None, shape: str
) -> None:
    with (
        chatport.Client(backend="unbuildable", model="m", config={}) as client,
        pytest.raises(chatport.APIError) as info,
    ):
        call(client, shape, "hi")
    error = info.value
    assert "backend 'unbuildable' (plugin 'misbehaving') could not be built" in str(error)
    assert "ValueError: no such region" in str(error)
    assert isinstance(error.__cause__, ValueError)
    assert error.backend == "unbuildable"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("backend", "wrong"), [("dicts", "dict"), ("strings", "str")])
def test_a_wrong_return_type_is_an_api_error_naming_the_plugin(
    misbehaving: None, shape: str, backend: str, wrong: str
) -> None:
    with (
        chatport.Client(backend=backend, model="m", config={}) as client,
        pytest.raises(chatport.APIError) as info,
    ):
        call(client, shape, "hi")
    expected = "Chunk" if "stream" in shape else "Completion"
    did = "streamed" if "stream" in shape else "returned"
    assert f"backend {backend!r} (plugin 'misbehaving') {did} a {wrong}, not a {expected}" in str(
        info.value
    )
    assert info.value.backend == backend
    assert info.value.attempts == 1  # not retried: the backend is broken, not the server


def test_a_bad_chunk_after_a_good_one_ends_the_stream_with_an_api_error(misbehaving: None) -> None:
    Halfway.closed.clear()
    with chatport.Client(backend="halfway", model="m", config={}) as client:
        stream = client.stream("hi")
        assert next(stream).text == "good "
        with pytest.raises(chatport.APIError, match="streamed a str, not a Chunk"):
            next(stream)
    assert Halfway.closed == [True]  # the backend's stream was closed


def test_a_plugin_backend_raising_a_base_exception_fails_only_its_call(
    fresh_plugins: None,
) -> None:
    class Raising(Backend):
        capabilities = chatport.Capabilities(native_async=True)

        async def acomplete(self, request: chatport.ChatRequest) -> Completion:
            text = request.messages[-1].text
            if text == "custom":
                raise Gremlin("lost")
            if text == "exit":
                raise SystemExit(1)
            if text == "cancel":
                raise asyncio.CancelledError  # raised, not a cancellation of the caller
            return Completion(text=text)

        def complete(self, request: chatport.ChatRequest) -> Completion:
            return asyncio.run(self.acomplete(request))

    class Plugin:
        @chatport.hookimpl
        def chatport_register_backends(self, registry: Any) -> None:
            registry.add("raising", Raising)

    prompts = ["a", "custom", "b", "exit", "cancel", "c"]
    with (
        temporary_plugin(Plugin(), name="raiser"),
        chatport.Client(backend="raising", model="m", config={}) as client,
    ):
        results = within(lambda: list(client.map(prompts, concurrency=2)))
        with pytest.raises(chatport.APIError, match="SystemExit"):
            client.complete("exit")
    assert [r.ok for r in results] == [True, False, True, False, False, True]
    names = [type(r.error.__cause__).__name__ for r in results if r.error is not None]
    assert names == ["Gremlin", "SystemExit", "CancelledError"]
    for result in results:
        if result.error is not None:
            assert isinstance(result.error, chatport.APIError)
            assert "backend 'raising' (plugin 'raiser') failed" in str(result.error)


# -- the fault mix -------------------------------------------------------------------------


class Chaos(RestBackend):
    """The real rest backend, misbehaving on the prompts that ask for it."""

    capabilities = chatport.Capabilities(native_async=True)

    async def acomplete(self, request: chatport.ChatRequest) -> Completion:
        text = request.messages[-1].text
        kind = text.split(":", 1)[0]
        if kind == "dict":
            return {"text": text}  # type: ignore[return-value]
        if kind == "raise":
            raise RuntimeError("the plugin tripped")
        if kind == "gremlin":
            raise Gremlin("lost in the plugin")
        if kind == "exit":
            raise SystemExit(4)
        if kind == "cancel":
            raise asyncio.CancelledError
        return await super().acomplete(request)


class ChaosPlugin:
    @chatport.hookimpl
    def chatport_register_backends(self, registry: Any) -> None:
        registry.add("chaos", Chaos)

    @chatport.hookimpl
    def chatport_before_request(self, request: Any) -> None:
        kind = request.messages[-1].text.split(":", 1)[0]
        if kind == "hookexit":
            raise SystemExit(5)
        if kind == "hookgremlin":
            raise Gremlin("a hook's own")
        if kind == "hookcancel":
            raise asyncio.CancelledError


#: the kind of each input, by its index modulo the list's length
KINDS = [
    "plain",
    "dict",
    "plain",
    "raise",
    "hookexit",
    "plain",
    "gremlin",
    "input",
    "hookgremlin",
    "exit",
    "plain",
    "cancel",
    "hookcancel",
    "plain",
]
FAILING = {
    "dict": "returned a dict, not a Completion",
    "raise": "failed: RuntimeError",
    "gremlin": "failed: Gremlin",
    "exit": "failed: SystemExit",
    "cancel": "failed: CancelledError",
}


def chaos_inputs(count: int) -> list[Any]:
    inputs: list[Any] = []
    for index in range(count):
        kind = KINDS[index % len(KINDS)]
        if kind == "input":
            inputs.append(messages_that_raise(f"input {index}"))
        else:
            inputs.append(f"{kind}: prompt {index}")
    return inputs


@pytest.mark.parametrize("shape", ["map", "amap"])
def test_fault_mix_every_input_once_in_order_no_hang(
    module_workspace: LocalWorkspace,
    fresh_plugins: None,
    caplog: pytest.LogCaptureFixture,
    virtual_clock: VirtualClock,  # the retries' backoff is not what this test waits for
    shape: str,
) -> None:
    module_workspace.set_faults(
        MODEL,
        Fault.error(500, probability=0.05),  # 5% errors, never retried: error values
        Fault.error(503, probability=0.05, retry_after=0),  # retried
    )
    inputs = chaos_inputs(280)
    with (
        caplog.at_level(logging.WARNING, logger="chatport"),
        temporary_plugin(ChaosPlugin(), name="chaos-plugin"),
        chatport.Client(backend="chaos", model=MODEL, max_retries=2, config={}) as client,
    ):
        if shape == "map":
            results = within(lambda: list(client.map(inputs, concurrency=16)))
        else:

            async def collect() -> list[chatport.BatchResult]:
                return [r async for r in client.amap(inputs, concurrency=16)]

            results = run_async(collect())
    assert [r.index for r in results] == list(range(len(inputs)))
    assert all(r.input is item for r, item in zip(results, inputs, strict=True))
    outcomes: Counter[str] = Counter()
    for result in results:
        kind = KINDS[result.index % len(KINDS)]
        error = result.error
        if kind == "input":
            assert isinstance(error, chatport.InvalidRequestError)
            assert isinstance(error.__cause__, ValueError)
        elif kind in FAILING:
            assert isinstance(error, chatport.APIError), (kind, error)
            assert "backend 'chaos' (plugin 'chaos-plugin')" in str(error)
            assert FAILING[kind] in str(error)
        elif result.ok:  # plain, or a hook that raised: answered by the server
            assert result.unwrap().text == result.input
            outcomes["answered"] += 1
        else:  # the server's 5% of errors
            assert isinstance(error, chatport.ServerError), (kind, error)
            outcomes[f"status {error.status_code}"] += 1
    assert outcomes["answered"] > 0
    assert outcomes["status 500"] > 0  # the injected errors did happen
    assert virtual_clock.waits  # and the 503s were retried after a backoff
    assert "plugin 'chaos-plugin' raised in chatport_before_request" in caplog.text
    # the server saw each answered input once per attempt, never more
    sent = Counter(
        r.body["messages"][-1]["content"]
        for r in module_workspace.requests
        if r.method == "POST" and isinstance(r.body, dict)
    )
    for result in results:
        if isinstance(result.input, str):
            assert sent[result.input] <= result.attempts
