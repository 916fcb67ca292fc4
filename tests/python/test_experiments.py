"""Experiments from config files through the binding, against the pathflow
tool on the same files: the same run directory contents, the same samples
(`pathflow sample`) and the same evaluation (`pathflow eval`)."""
import os
import re

import numpy as np
import pytest

import pathflow as pf

QUICK = {"training.steps": 100, "eval.every": 50, "eval.samples": 500}


def quickstart(source_dir):
    return os.path.join(source_dir, "configs", "quickstart.cfg")


def cli_sets(values):
    out = []
    for k, v in values.items():
        out += ["--set", f"{k}={v}"]
    return out


def test_train_writes_the_run_the_tool_writes(tmp_path, cli, source_dir):
    run = pf.train(quickstart(source_dir), set=QUICK, out=tmp_path / "py")
    assert isinstance(run.last, pf.Metrics) and run.last.step == 100
    m = run.metrics
    assert list(m["step"]) == [50, 100] and m.dtype.names[:3] == ("step", "loss", "grad_norm")
    assert run.samples().shape == (500, 2) and run.log_weights().shape == (500,)
    assert run.last.ess == pytest.approx(m["ess"][-1], rel=1e-5)
    code, _, err = cli("train", quickstart(source_dir), *cli_sets(QUICK), "--out",
                       tmp_path / "cli")
    assert code == 0, err
    assert np.array_equal(run.samples(), np.load(tmp_path / "cli" / "samples.npy"))
    cm = np.genfromtxt(tmp_path / "cli" / "metrics.csv", delimiter=",", names=True)
    assert np.array_equal(cm["loss"], m["loss"]) and np.array_equal(cm["ess"], m["ess"])
    assert (tmp_path / "py" / "checkpoint.pfc").read_bytes() == \
        (tmp_path / "cli" / "checkpoint.pfc").read_bytes()


def test_experiment_objects_and_resolved_configuration(tmp_path, source_dir):
    e = pf.Experiment(quickstart(source_dir),
                      set={"flow.hidden": [16, 16], "flow.zero_init": False,
                           "flow.activation": "softplus", "training.lr": 1e-3})
    assert e.name == "quickstart" and e.default_out_dir.endswith("quickstart")
    assert (e.target.kind, e.flow.kind, e.flow.dim) == ("mgm", "realnvp", 2)
    assert "softplus" in e.flow.describe()
    assert np.any(e.flow.params != 0)  # zero_init false
    opts = e.train_options
    assert (opts["lr"], opts["batch"], opts["estimator"]) == (1e-3, 128, "path")
    e.write_config(tmp_path / "resolved.cfg")
    again = pf.Experiment(tmp_path / "resolved.cfg")
    assert again.train_options == opts and again.flow.describe() == e.flow.describe()
    assert np.array_equal(again.flow.params, e.flow.params)


def test_config_errors_name_the_key(tmp_path, source_dir):
    with pytest.raises(pf.ConfigError, match=r"key 'training\.batch'") as info:
        pf.Experiment(quickstart(source_dir), set={"training.batch": -5})
    assert info.value.status == -5 and "--set training.batch=-5" in str(info.value)
    with pytest.raises(pf.ConfigError, match="batch"):  # the closest name is suggested
        pf.Experiment(quickstart(source_dir), set={"training.bach": 5})
    with pytest.raises(pf.FileError, match="nowhere.cfg"):
        pf.Experiment(tmp_path / "nowhere.cfg")
    bad = tmp_path / "bad.cfg"
    bad.write_text('target: { kind = "mgm"; dim = 2; }\ntraining: { steps = "many"; }\n')
    with pytest.raises(pf.ConfigError, match=r"bad\.cfg:2"):
        pf.Experiment(bad)
    with pytest.raises(TypeError, match="set"):
        pf.Experiment(quickstart(source_dir), set={"training.steps": object()})


def test_stop_and_resume_equal_one_run(tmp_path, source_dir):
    whole = pf.train(quickstart(source_dir), set=QUICK, out=tmp_path / "whole")
    cut = pf.train(quickstart(source_dir), set=QUICK, out=tmp_path / "cut", stop_at=50)
    assert cut.last.step == 50
    resumed = pf.train(tmp_path / "cut" / "config.cfg", out=tmp_path / "cut", resume=True)
    assert resumed.last.step == 100
    assert np.array_equal(whole.samples(), resumed.samples())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    src = os.environ["PF_SOURCE_DIR"]
    out = tmp_path_factory.mktemp("run") / "q"
    pf.train(quickstart(src), set=QUICK, out=out)
    return out


def test_sample_of_a_loaded_run_equals_pathflow_sample(tmp_path, cli, trained):
    run = pf.load_run(trained)
    x, lw = pf.sample(run.flow, run.target, 700, seed=5)
    code, _, err = cli("sample", trained, "-n", 700, "-o", tmp_path / "d.npy", "--seed", 5)
    assert code == 0, err
    assert np.array_equal(x, np.load(tmp_path / "d.npy"))
    assert np.array_equal(lw, np.load(tmp_path / "d_log_weights.npy"))
    # from the checkpoint file too
    x2, _ = pf.sample(pf.load_run(trained / "checkpoint.pfc").flow, run.target, 700, seed=5)
    assert np.array_equal(x, x2)


def test_evaluate_equals_pathflow_eval(cli, trained):
    run = pf.load_run(trained)
    r = pf.evaluate(run.flow, run.target, n=2000, seed=3, blocks=10)
    code, out, err = cli("eval", trained, "-n", 2000, "--seed", 3, "--blocks", 10)
    assert code == 0, err
    assert f"reverse ESS {r['ess']:.4f}" in out
    m = re.search(r"acceptance ([0-9.]+)", out)
    assert m and m.group(1) == f"{r['acceptance']:.3f}"
    rows = dict((cells[0], cells[1:]) for cells in
                ([c.strip() for c in line.strip("|").split("|")]
                 for line in out.splitlines() if line.startswith("| ") and "---" not in line))
    assert len(r["summaries"]) == 2 and len(r["observables"]) == 2
    for name, (est, jk) in r["summaries"].items():
        assert rows[name] == [f"{est:.6g}", f"{jk:.2g}"], name
    for name, (mean, error, tau) in r["observables"].items():
        assert rows[name] == [f"{mean:.6g}", f"{error:.2g}", f"{tau:.2f}"], name
