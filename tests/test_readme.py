"""The README's autograd example runs and prints the gradients it claims."""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_example_prints_what_it_claims():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert len(code.strip().splitlines()) <= 20
    assert code == (ROOT / "examples" / "autograd_basics.py").read_text().split('"""\n', 2)[-1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "dy/dx at x=3: 8.0"
    assert lines[1].startswith("w = 2.000, b = 1.000")
