"""Print, on one line, the installed version of each direct runtime dependency.

Run in the lowest-versions environment of ``.ci/run``. It fails when a dependency is not
installed at the lower bound ``pyproject.toml`` declares: the tests then prove nothing
about that bound (it may be yanked, or unreachable next to the other dependencies).
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

RUNTIME_EXTRAS = ("openai", "mlflow", "databricks")

project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
specs = list(project["dependencies"])
for extra in RUNTIME_EXTRAS:
    specs += project["optional-dependencies"][extra]

shown, wrong = [], []
for spec in specs:
    req = Requirement(spec)
    installed = version(req.name)
    shown.append(f"{req.name}=={installed}")
    lower = [s.version for s in req.specifier if s.operator == ">="]
    if lower and Version(installed) != Version(lower[0]):
        wrong.append(f"{req.name}: declared {req.specifier}, installed {installed}")
print("lowest-direct:", " ".join(shown))
if wrong:
    sys.exit("not at the declared lower bound:\n  " + "\n  ".join(wrong))
