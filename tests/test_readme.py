"""The README's usage example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_usage_example_runs_and_its_assertions_hold() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    exec(compile(blocks[0], str(README), "exec"), {})


def test_the_readme_gives_the_two_fresh_machine_commands() -> None:
    text = README.read_text()
    assert "make demo" in text and "make test" in text
