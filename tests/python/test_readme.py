"""The Python examples of README.md and python/README.md marked ``<!-- test: python ... -->``
run as they are: each in a fresh directory holding an ``app.tar.gz``, in its own interpreter,
with the bundled localkms plugin on PATH."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from conftest import LOCALKMS_PATH, REPO

MARKED = re.compile(r"<!-- test: python[^>]*-->\s*\n```python\n(.*?)\n```", re.S)


def examples() -> List[Tuple[str, str]]:
    found = []
    for doc in (REPO / "README.md", REPO / "python" / "README.md"):
        for i, code in enumerate(MARKED.findall(doc.read_text())):
            found.append((f"{doc.relative_to(REPO)}#{i + 1}", code))
    return found


def test_the_readmes_have_tested_examples() -> None:
    names = [n for n, _ in examples()]
    assert any(n.startswith("README.md") for n in names), names
    assert sum(n.startswith("python/README.md") for n in names) >= 2, names


@pytest.mark.parametrize("name,code", examples(), ids=[n for n, _ in examples()])
def test_readme_example_runs(name: str, code: str, tmp_path: Path) -> None:
    if "securesystemslib" in code:
        pytest.importorskip("securesystemslib", reason="securesystemslib 1.x needs Python >= 3.10")
        pytest.importorskip("tuf", reason="python-tuf needs Python >= 3.10")
    (tmp_path / "app.tar.gz").write_bytes(b"release 1.0\n" * 1000)
    script = tmp_path / "example.py"
    script.write_text(code)
    env = dict(os.environ, PATH=LOCALKMS_PATH)
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{name} failed:\n{r.stdout}\n{r.stderr}"
