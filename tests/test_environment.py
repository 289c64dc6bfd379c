"""environment.yml installs the same dependencies that pyproject.toml declares."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return {_name(r): r.replace(" ", "") for r in reqs}


def _environment_pip() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"], "environment.yml must use conda-forge only"
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip: section"
    return {_name(r): r.replace(" ", "") for r in pip_sections[0] if not r.startswith("-e")}


def test_environment_names_the_same_requirements_as_pyproject() -> None:
    assert _environment_pip() == _pyproject()


def test_environment_installs_the_package_with_all_its_extras() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    extras = sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert extras == ["dev", "inception"]
    assert f"-e .[{','.join(extras)}]" in pip


def test_python_versions_agree() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert sorted(project["requires-python"].split(",")) == sorted(python.removeprefix("python").split(","))
    assert sys.version_info[:2] >= (3, 10) and f"<3.{sys.version_info[1]}" not in project["requires-python"]


def test_runtime_dependencies_are_what_the_package_imports() -> None:
    """Every third-party module the package imports is declared: at run time, or in the extra named where it is."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    stdlib = set(sys.stdlib_module_names)
    imported = set()
    for path in (ROOT / "facegen_utils").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    aliases = {"PIL": "pillow", "IPython": "ipykernel"}  # module name -> the distribution that brings it
    third_party = {aliases.get(m, m).lower() for m in imported - stdlib - {"facegen_utils", "__future__"}}
    assert third_party - runtime == {"torchmetrics"}  # optional, named in the 'inception' extra
    assert any(_name(r) == "torchmetrics" for r in project["optional-dependencies"]["inception"])
    assert not {"nbval", "nbformat", "pytest"} & runtime  # test tools live in 'dev'

