"""examples/python/quickstart.py runs (a short version) and, with matplotlib
installed, draws its figure."""
import importlib.util
import os
import subprocess
import sys


def test_quickstart_example_runs(tmp_path, source_dir):
    script = os.path.join(source_dir, "examples", "python", "quickstart.py")
    out = tmp_path / "q.png"
    p = subprocess.run([sys.executable, script, "--steps", "60", "--out", str(out)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "reverse ESS" in p.stdout and "Python action: ESS" in p.stdout
    has_mpl = importlib.util.find_spec("matplotlib") is not None
    assert out.exists() == has_mpl, p.stdout
