#!/usr/bin/env bash
# A newcomer's path, scripted from a clean clone and the docs alone: the README's main
# job, the quickstart (a built wheel, `chatport serve` and its export lines, the first
# example), then a plugin package written from docs/plugins.md. Commands are read from
# the pages themselves, so this fails when the docs drift.
set -euo pipefail
exec </dev/null  # nothing is typed: `chatport ask` must not wait for standard input
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
serve_pid=""
cleanup() {
    if [ -n "$serve_pid" ]; then kill -INT "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# block FILE N LANG [AFTER]: the Nth fenced LANG block of FILE (after the line matching AFTER)
block() {
    python3 - "$@" <<'PY'
import re, sys
path, n, lang = sys.argv[1], int(sys.argv[2]), sys.argv[3]
text = open(path).read()
if len(sys.argv) > 4:
    text = text[text.index(sys.argv[4]):]
blocks = re.findall(r"^```" + lang + r"\n(.*?)^```", text, re.M | re.S)
sys.stdout.write(blocks[n - 1])
PY
}

echo "== a clean clone"
git clone --quiet "$repo" "$work/chatport"
cd "$work/chatport"

echo "== README: the main job"
main_job="$(block README.md 1 bash '**Main job**')"
bash -c "$main_job" >"$work/answer" 2>"$work/notice"
grep -qx "What is chatport?" "$work/answer"
grep -q "embedded local workspace" "$work/notice"
# shellcheck disable=SC1091
. .venv/bin/activate

echo "== quickstart: install from a built wheel"
block docs/quickstart.md 2 bash | head -1 | bash  # pip wheel --no-deps -w dist .
pip install --quiet --no-deps --force-reinstall dist/chatport-*.whl
python -c "import chatport, sys; sys.exit(0 if '/site-packages/' in chatport.__file__ else 1)"

echo "== quickstart: chatport serve, its export lines, the first example"
chatport serve --port 0 >"$work/serve.out" 2>&1 &
serve_pid=$!
for _ in $(seq 200); do grep -q "export DATABRICKS_TOKEN" "$work/serve.out" && break; sleep 0.1; done
eval "$(grep -E '^\s*export ' "$work/serve.out")"
block docs/quickstart.md 1 python '## Ask' >"$work/ask.py"
# the output goes to a file first: `grep -q` stops reading at its match, and a writer
# still printing (unbuffered output) would then fail with a broken pipe
python "$work/ask.py" >"$work/ask.out"
grep -q "What is Delta Lake?" "$work/ask.out"

echo "== a plugin package from docs/plugins.md"
mkdir "$work/chatport-shout"
block docs/plugins.md 1 toml >"$work/chatport-shout/pyproject.toml"
block docs/plugins.md 1 python '`chatport_shout.py`:' >"$work/chatport-shout/chatport_shout.py"
pip install --quiet "$work/chatport-shout"
chatport backends >"$work/backends.out"
grep -q "^shout " "$work/backends.out"
test "$(chatport ask -b shout -m m 'hello plugin')" = "HELLO PLUGIN!"

echo "newcomer path: ok"
