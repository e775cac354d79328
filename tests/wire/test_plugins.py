"""Plugin discovery, isolation and registration.

Discovery is tested two ways: with fake ``importlib.metadata`` distributions (a
``*.dist-info`` folder put on ``sys.path``), and with real plugin packages installed by
pip into a private target folder and used from a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import chatport
from chatport import _plugins
from chatport.testing import temporary_plugin

DATA = Path(__file__).parents[1] / "data"


def make_distribution(
    root: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]
) -> None:
    """Write a minimal installed distribution (dist-info + modules) under ``root``."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "\n".join(f"{ep} = {target}" for ep, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[chatport]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


GOOD_PLUGIN = """
    import chatport

    class EchoUpper(chatport.Backend):
        description = "upper-cases the question"

        def complete(self, request):
            text = request.messages[-1].text.upper()
            return chatport.Completion(text=text, model=request.model, finish_reason="stop")

    @chatport.hookimpl
    def chatport_register_backends(registry):
        registry.add("upper", EchoUpper, aliases=("UP",))
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugins: None) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


def test_entry_point_backend_is_discovered(site: Path) -> None:
    make_distribution(
        site, "chatport-upper", {"upper": "chatport_upper"}, {"chatport_upper": GOOD_PLUGIN}
    )
    registry = _plugins.get_registry()
    info = registry.get("upper")
    assert info.plugin == "upper"
    assert registry.get("UP") is info
    with chatport.Client(config={}) as client:
        assert client.complete("abc", backend="upper", model="m").text == "ABC"


def test_broken_import_only_warns(site: Path) -> None:
    make_distribution(
        site, "chatport-upper", {"upper": "chatport_upper"}, {"chatport_upper": GOOD_PLUGIN}
    )
    make_distribution(
        site,
        "chatport-bad",
        {"bad": "chatport_bad"},
        {"chatport_bad": "raise ImportError('no dep')"},
    )
    with pytest.warns(
        chatport.ChatportPluginWarning, match=r"plugin 'bad' from package 'chatport-bad'.*no dep"
    ):
        registry = _plugins.get_registry()
    assert "upper" in registry
    assert "fake" in registry


def test_failing_registration_only_warns(site: Path) -> None:
    failing = """
        import chatport

        @chatport.hookimpl
        def chatport_register_backends(registry):
            raise RuntimeError("cannot register")
    """
    make_distribution(
        site, "chatport-failing", {"failing": "chatport_failing"}, {"chatport_failing": failing}
    )
    make_distribution(
        site, "chatport-upper", {"upper": "chatport_upper"}, {"chatport_upper": GOOD_PLUGIN}
    )
    with pytest.warns(
        chatport.ChatportPluginWarning, match="'failing' failed to register.*cannot register"
    ):
        registry = _plugins.get_registry()
    assert "upper" in registry.names()
    assert {"openai", "rest", "fake"} <= set(registry.names())


def test_plugin_with_unknown_hook_argument_only_warns(site: Path) -> None:
    wrong = """
        import chatport

        @chatport.hookimpl
        def chatport_register_backends(registry, surprise):
            pass
    """
    make_distribution(
        site, "chatport-wrong", {"wrong": "chatport_wrong"}, {"chatport_wrong": wrong}
    )
    with pytest.warns(chatport.ChatportPluginWarning, match="'wrong'.*surprise"):
        _plugins.get_plugin_manager()


def test_duplicate_backend_name_keeps_the_first(site: Path) -> None:
    clash = """
        import chatport

        class Other(chatport.Backend):
            pass

        @chatport.hookimpl
        def chatport_register_backends(registry):
            registry.add("fake", Other)
    """
    make_distribution(
        site, "chatport-clash", {"clash": "chatport_clash"}, {"chatport_clash": clash}
    )
    with pytest.warns(chatport.ChatportPluginWarning, match="'clash' registers backend 'fake'"):
        registry = _plugins.get_registry()
    assert registry.get("fake").plugin == "chatport.backends.fake"


def test_disable_plugins_env(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_distribution(
        site, "chatport-upper", {"upper": "chatport_upper"}, {"chatport_upper": GOOD_PLUGIN}
    )
    monkeypatch.setenv("CHATPORT_DISABLE_PLUGINS", "1")
    registry = _plugins.get_registry()
    assert "upper" not in registry
    assert "fake" in registry  # built-ins still load


def test_entry_points_load_once(site: Path) -> None:
    counter = """
        import chatport
        import builtins
        builtins.chatport_counter_loads = getattr(builtins, "chatport_counter_loads", 0) + 1

        @chatport.hookimpl
        def chatport_register_backends(registry):
            pass
    """
    make_distribution(
        site, "chatport-counter", {"counter": "chatport_counter"}, {"chatport_counter": counter}
    )
    import builtins

    _plugins.get_registry()
    _plugins.get_registry()
    _plugins.get_plugin_manager()
    with chatport.Client(backend="fake", config={}) as client:
        client.complete("x", model="m")
        client.complete("y", model="m")
    assert builtins.chatport_counter_loads == 1  # type: ignore[attr-defined]
    del builtins.chatport_counter_loads  # type: ignore[attr-defined]
    sys.modules.pop("chatport_counter", None)


def test_registry_rejects_non_backends(fresh_plugins: None) -> None:
    class NotABackend:
        pass

    class Plugin:
        @chatport.hookimpl
        def chatport_register_backends(self, registry: chatport.BackendRegistry) -> None:
            registry.add("bad", NotABackend)  # type: ignore[arg-type]

    with pytest.warns(chatport.ChatportPluginWarning, match="subclass of chatport.Backend"):  # noqa: SIM117
        with temporary_plugin(Plugin(), "bad-plugin"):
            assert "bad" not in _plugins.get_registry()


def test_temporary_plugin_adds_and_removes_backend(fresh_plugins: None) -> None:
    class Mine(chatport.Backend):
        def complete(self, request: chatport.ChatRequest) -> chatport.Completion:
            return chatport.Completion(text="mine")

    class Plugin:
        @chatport.hookimpl
        def chatport_register_backends(self, registry: chatport.BackendRegistry) -> None:
            registry.add("mine", Mine)

    with temporary_plugin(Plugin(), "mine-plugin"):
        assert chatport.complete("hi", backend="mine", model="m").text == "mine"
    with pytest.raises(chatport.BackendNotFoundError, match="'mine'"):
        chatport.complete("hi", backend="mine", model="m")


@pytest.fixture(scope="module")
def installed_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example packages, installed for real by pip into a private folder."""
    target = tmp_path_factory.mktemp("installed")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(DATA / "chatport-example-x"),
            str(DATA / "chatport-example-broken"),
            str(DATA / "chatport-example-observers"),
        ],
        check=False,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return target


def _run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("CHATPORT_DISABLE_PLUGINS", None)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_installed_package_is_listed_by_cli(installed_site: Path) -> None:
    result = _run(installed_site, "-m", "chatport", "backends", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["x"]["plugin"] == "x"
    assert rows["x"]["description"] == "example outside backend (reverses the question)"
    assert "broken" in result.stderr
    assert "this plugin is broken on purpose" in result.stderr
    assert "Traceback" not in result.stderr


def test_installed_package_answers_complete(installed_site: Path) -> None:
    code = (
        "import chatport; c = chatport.complete([{'role': 'user', 'content': 'abc'}], backend='x', model='m'); "
        "print(c.text, c.finish_reason, c.usage.total_tokens, c.backend)"
    )
    result = _run(installed_site, "-W", "ignore::chatport.ChatportPluginWarning", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cba", "stop", "6", "x"]


OBSERVED_CALL = (
    "import json, chatport, chatport_example_observers as o; "
    "c = chatport.complete('hi', backend='fake', model='m'); "
    "print(json.dumps({'text': c.text, 'events': o.EVENTS}))"
)


@pytest.mark.parametrize("warnings_are_errors", [False, True])
def test_installed_observers_keep_pluggys_promises(
    installed_site: Path, warnings_are_errors: bool
) -> None:
    flags = ["-W", "error"] if warnings_are_errors else []
    result = _run(installed_site, *flags, "-c", OBSERVED_CALL)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["text"] == "hi"  # the raising observer did not cost the answer
    # tryfirst/trylast beat registration order; the wrapper surrounds them all;
    # the misspelled chatport_befor_request is never called
    assert out["events"] == ["wrap:before", "first", "raise", "plain", "last", "wrap:after"]
    assert (
        "plugin 'obs-raise' raised in chatport_after_completion: "
        "RuntimeError: observer broken on purpose" in result.stderr
    )
    assert (
        "plugin 'obs-typo' from package 'chatport-example-observers' implements "
        "'chatport_befor_request', which is not a chatport hook "
        "(did you mean 'chatport_before_request'?)" in result.stderr
    )


def test_installed_plugins_are_listed_with_package_and_hooks(installed_site: Path) -> None:
    result = _run(installed_site, "-m", "chatport", "plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["obs-wrap"]["package"] == "chatport-example-observers"
    assert rows["obs-wrap"]["version"] == "0.2.0"
    assert rows["obs-wrap"]["hooks"] == ["chatport_after_completion"]
    assert rows["obs-typo"]["hooks"] == ["chatport_befor_request"]
    assert rows["x"]["hooks"] == ["chatport_register_backends"]
    assert rows["x"]["package"] == "chatport-example-x"
    assert "broken" not in rows
    assert not any(row["builtin"] for row in rows.values())
