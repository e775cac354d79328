"""Peak RSS of ``Client.map`` over 100,000 inputs from a generator, offline.

A trivial sync backend (registered as a temporary plugin) isolates chatport's own
batch machinery: the input generator, the worker pool, the in-order buffer and the
results. ``python benchmarks/batch_memory.py [COUNT]``; prints the peak RSS in MiB after
1,000, 10,000 and COUNT inputs. (``batch_bench.py --memory`` does the same against the
local workspace, at the workspace's own request rate.)
"""

from __future__ import annotations

import json
import resource
import sys
import time

import chatport
from chatport.testing import temporary_plugin


class Echo(chatport.Backend):
    """Answers with the prompt, at once."""

    def complete(self, request: chatport.ChatRequest) -> chatport.Completion:
        return chatport.Completion(text=request.messages[-1].text)


class Plugin:
    @chatport.hookimpl
    def chatport_register_backends(self, registry: chatport.BackendRegistry) -> None:
        registry.add("echo-memory", Echo)


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    marks: dict[int, float] = {}
    started = time.perf_counter()
    with (
        temporary_plugin(Plugin(), "echo-memory"),
        chatport.Client(backend="echo-memory", model="m", config={}) as client,
    ):
        inputs = (f"memory {i}" for i in range(total))
        for result in client.map(inputs, concurrency=64):
            assert result.unwrap().text == f"memory {result.index}"
            if result.index + 1 in (1_000, 10_000, total):
                marks[result.index + 1] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elapsed = time.perf_counter() - started
    print(json.dumps({"peak_rss_mib": marks, "seconds": round(elapsed, 1)}))


if __name__ == "__main__":
    main()
