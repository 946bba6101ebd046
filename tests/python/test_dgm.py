# test_dgm.py — the Python module against the CLI: normalisation over
# {0,1}^(3x3) for every model kind, CLI-trained models score the same from
# Python to the last digit and Python-trained ones from the CLI, seeded
# samples and completions equal `dgm sample`'s, text models through their
# codec, bad arrays and files give ValueError / OSError with dgm's messages.
import itertools
import json
import math
import shutil

import numpy as np
import pytest

import dgm
from conftest import jsonl

DIGITS = "data/digits"


def all_points(shape, levels):
    d = int(np.prod(shape))
    return np.array(list(itertools.product(range(levels), repeat=d)), dtype=np.uint8).reshape((-1, *shape))


def logsumexp(v):
    m = np.max(v)
    return m + math.log(np.sum(np.exp(v - m)))


def small_binary_data(n=200, seed=0, labels=0):
    rng = np.random.default_rng(seed)
    # Correlated 3x3 patterns: a random row pattern repeated with noise.
    base = rng.integers(0, 2, size=(n, 1, 3))
    x = (np.repeat(base, 3, axis=1) ^ (rng.random((n, 3, 3)) < 0.1)).astype(np.uint8)
    if labels:
        return x, (x.sum(axis=(1, 2)) % labels).astype(np.int64)
    return x


@pytest.mark.parametrize("kind", [k["name"] for k in dgm.model_kinds()])
def test_normalisation_3x3(kind):
    spec = next(k for k in dgm.model_kinds() if k["name"] == kind)
    cfg = dict(spec["test_config"], space={"shape": [3, 3], "levels": 2})
    if kind == "pixelcnn":
        cfg["space"] = {"shape": [1, 3, 3], "levels": 2}
    if kind == "ngram":
        pytest.skip("ngram models text (variable-length sequences): normalised in the C++ contract tests")
    shape = tuple(cfg["space"]["shape"])
    x = small_binary_data().reshape((-1, *shape))
    model = dgm.train(cfg, data=x, validation=x[:40], threads=2)
    lp = model.log_prob(all_points(shape, 2))
    assert lp.dtype == np.float64 and lp.shape == (512,)
    assert abs(logsumexp(lp)) < 1e-9


def test_normalisation_labeled():
    x, y = small_binary_data(labels=3)
    model = dgm.train({"space": {"shape": [3, 3], "levels": 2, "labels": 3}, "model": {"type": "mixture", "components": 2},
                       "train": {"max_iterations": 10}}, data=x, labels=y)
    pts = all_points((3, 3), 2)
    assert abs(logsumexp(model.log_prob(pts))) < 1e-9  # marginal over x
    for label in range(3):
        assert abs(logsumexp(model.log_prob(pts, labels=np.full(512, label)))) < 1e-9
    prior = model.label_log_prior()
    assert abs(logsumexp(prior)) < 1e-12


def cli_scores(cli, model_path, data_path, *extra):
    return np.array([r["log_prob"] for r in jsonl(cli("score", data_path, "-m", model_path, "--json", *extra))])


def test_cli_trained_model_scores_the_same(cli, source_dir, tmp_path):
    path = tmp_path / "digits.dgm"
    cli("train", "-c", source_dir / "configs/digits.json", "-o", path, "-q", "--reproducible")
    model = dgm.load(path)
    x = dgm.read(source_dir / DIGITS / "test.txt", model.space)
    assert x.shape == (100, 5, 5) and x.dtype == np.uint8
    lp = model.log_prob(x)
    want = cli_scores(cli, path, source_dir / DIGITS / "test.txt")
    assert lp.tolist() == want.tolist()  # every bit
    # And the tab-separated column, to its printed digits.
    text = cli("score", source_dir / DIGITS / "test.txt", "-m", path).decode().splitlines()
    assert [line.split("\t")[1] for line in text] == ["%.10g" % v for v in lp]
    # Other dtypes and layouts give the same numbers.
    assert model.log_prob(x.astype(np.int64)).tolist() == lp.tolist()
    assert model.log_prob(np.asfortranarray(x)).tolist() == lp.tolist()
    assert model.log_prob(x.astype(bool)).tolist() == lp.tolist()
    assert model.describe()["kind"] == "mixture"


def test_python_trained_model_is_the_cli_model(cli, source_dir, tmp_path):
    cli_path = tmp_path / "cli.dgm"
    cli("train", "-c", source_dir / "configs/digits.json", "-o", cli_path, "-q", "--reproducible",
        "--set", "model.components=6")
    steps = []
    model = dgm.train(source_dir / "configs/digits.json", steps.append, model__components=6)
    assert steps and steps[-1]["unit"] == "iteration" and all(s["step"] == i + 1 for i, s in enumerate(steps))
    py_path = tmp_path / "python.dgm"
    model.save(py_path)
    # The same file as `dgm train --reproducible`, byte for byte.
    assert py_path.read_bytes() == cli_path.read_bytes()
    x = dgm.read(source_dir / DIGITS / "test.txt", model.space)
    assert cli_scores(cli, py_path, source_dir / DIGITS / "test.txt").tolist() == model.log_prob(x).tolist()


def test_train_from_dict_with_overrides(source_dir, monkeypatch):
    monkeypatch.chdir(source_dir)
    cfg = json.loads((source_dir / "configs/digits.json").read_text())
    cfg["data"] = {"train": f"{DIGITS}/skewed.txt", "format": "grid"}
    a = dgm.train(cfg, **{"model.components": 3, "train.max_iterations": 5})
    b = dgm.train(dict(cfg, model={"type": "mixture", "components": 3, "alpha": 0.01}), train__max_iterations=5)
    assert a.describe()["describe"] == b.describe()["describe"]
    assert a.describe()["config"]["model"]["components"] == 3
    x = dgm.read(f"{DIGITS}/test.txt", a.space)
    assert a.log_prob(x).tolist() == b.log_prob(x).tolist()


def test_callback_can_stop_training(source_dir):
    seen = []

    def stop_after_two(step):
        seen.append(step)
        return len(seen) < 2

    model = dgm.train(source_dir / "configs/digits-nade.json", stop_after_two, train__epochs=50)
    assert len(seen) == 2 and seen[0]["unit"] == "epoch"
    assert model.describe()["partial"] is True
    with pytest.raises(ZeroDivisionError):
        dgm.train(source_dir / "configs/digits-nade.json", lambda s: 1 / 0)


def test_seeded_samples_match_the_cli(cli, source_dir, tmp_path):
    path = tmp_path / "digits.dgm"
    cli("train", "-c", source_dir / "configs/digits.json", "-o", path, "-q")
    model = dgm.load(path)
    # More than one chunk of 4096: chunk k is drawn with Rng(seed, k).
    n = 5000
    s = model.sample(n, seed=7)
    assert s.shape == (n, 5, 5) and s.dtype == np.uint8
    want = [r["x"] for r in jsonl(cli("sample", "-n", n, "-s", 7, "-m", path, "-f", "jsonl", "-t", 1))]
    assert s.reshape(n, -1).tolist() == want
    assert model.sample(10, seed=7, threads=1).tolist() == s[:10].tolist()
    assert model.sample(10, seed=8).tolist() != s[:10].tolist()
    t = model.sample(10, seed=3, temperature=0.5)
    want_t = [r["x"] for r in jsonl(cli("sample", "-n", 10, "-s", 3, "-T", 0.5, "-m", path, "-f", "jsonl"))]
    assert t.reshape(10, -1).tolist() == want_t


def test_completion_matches_the_cli(cli, source_dir, tmp_path):
    path = tmp_path / "digits.dgm"
    cli("train", "-c", source_dir / "configs/digits-nade.json", "-o", path, "-q", "--set", "train.epochs=3")
    model = dgm.load(path)
    given = tmp_path / "given.txt"
    given.write_text("11111\n1000110\n")
    x = np.zeros((2, 5, 5), dtype=np.uint8)
    known = np.zeros((2, 5, 5), dtype=bool)
    x[0, 0, :] = 1
    known[0, 0, :] = True
    x[1].flat[:7] = [1, 0, 0, 0, 1, 1, 0]
    known[1].flat[:7] = True
    got = model.complete(x, known, seed=5)
    want = [r["x"] for r in jsonl(cli("sample", "--given", given, "-s", 5, "-m", path, "-f", "jsonl"))]
    assert got.reshape(2, -1).tolist() == want
    assert (got[known] == x[known]).all()


def test_labeled_model_against_the_cli(cli, tmp_path):
    x, y = small_binary_data(n=300, seed=4, labels=3)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "x-labels.npy", y)
    cfg = {"space": {"shape": [3, 3], "levels": 2, "labels": 3},
           "data": {"train": "x.npy", "labels": "x-labels.npy", "validation_count": 30},
           "model": {"type": "made", "hidden": [8]}, "train": {"epochs": 3, "batch_size": 16}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    cli("train", "-c", tmp_path / "cfg.json", "-o", tmp_path / "m.dgm", "-q", "--reproducible")
    model = dgm.train(tmp_path / "cfg.json")
    model.save(tmp_path / "py.dgm")
    assert (tmp_path / "py.dgm").read_bytes() == (tmp_path / "m.dgm").read_bytes()
    records = "".join(json.dumps({"x": r.ravel().tolist(), "label": int(l)}) + "\n" for r, l in zip(x, y))
    (tmp_path / "x.jsonl").write_text(records)
    rows = jsonl(cli("score", tmp_path / "x.jsonl", "-m", tmp_path / "m.dgm", "--json"))
    assert model.log_prob(x, labels=y).tolist() == [r["log_prob_given_label"] for r in rows]
    assert model.log_prob(x).tolist() == [r["log_prob_marginal"] for r in rows]
    joint = model.log_prob(x, labels=y) + model.label_log_prior()[y]
    assert joint.tolist() == [r["log_joint"] for r in rows]
    s, labels = model.sample(50, seed=2)
    want = jsonl(cli("sample", "-n", 50, "-s", 2, "-m", tmp_path / "m.dgm", "-f", "jsonl"))
    assert s.reshape(50, -1).tolist() == [r["x"] for r in want]
    assert labels.tolist() == [r["label"] for r in want]
    s1, l1 = model.sample(20, seed=2, label=1)
    assert (l1 == 1).all()
    want1 = jsonl(cli("sample", "-n", 20, "-s", 2, "-l", 1, "-m", tmp_path / "m.dgm", "-f", "jsonl"))
    assert s1.reshape(20, -1).tolist() == [r["x"] for r in want1]


def test_text_model_takes_and_returns_str(cli, tmp_path):
    lines = ["in the beginning god created the heaven and the earth",
             "and the earth was without form and void",
             "and god said let there be light and there was light",
             "and god saw the light that it was good"] * 5
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    test = ["and god said let there be light", "the earth was good", "and the zebra was void"]
    (tmp_path / "test.txt").write_text("\n".join(test) + "\n")
    cfg = {"space": {"shape": [32], "variable_length": True},
           "data": {"train": "train.txt", "format": "text", "tokenizer": "word"},
           "model": {"type": "ngram", "order": 3}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    cli("train", "-c", tmp_path / "cfg.json", "-o", tmp_path / "t.dgm", "-q")
    model = dgm.load(tmp_path / "t.dgm")
    assert model.is_text
    lp = model.log_prob(test)
    want = cli_scores(cli, tmp_path / "t.dgm", tmp_path / "test.txt")
    assert lp.tolist() == want.tolist()
    assert model.log_prob(test[0]).tolist() == lp[:1].tolist()
    s = model.sample(30, seed=4)
    assert all(isinstance(t, str) for t in s) and len(s) == 30
    assert s == cli("sample", "-n", 30, "-s", 4, "-m", tmp_path / "t.dgm").decode().split("\n")[:-1]
    c = model.complete(["and god"], seed=3)
    assert c[0].startswith("and god")
    assert c == cli("sample", "-p", "and god", "-n", 1, "-s", 3, "-m", tmp_path / "t.dgm").decode().split("\n")[:-1]
    with pytest.raises(ValueError, match=r"x\[0\].*past|x\[0\].*length|x\[0\]"):
        model.log_prob(" ".join(["light"] * 40))


def test_bad_arrays_raise_value_error(cli, source_dir, tmp_path):
    path = tmp_path / "digits.dgm"
    cli("train", "-c", source_dir / "configs/digits.json", "-o", path, "-q", "--set", "train.max_iterations=3")
    model = dgm.load(path)
    good = np.zeros((4, 5, 5), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"x: shape \(4, 5, 4\), expected \(N, 5, 5\) for the space \{0\.\.1\}\^\(5x5\)"):
        model.log_prob(good[:, :, :4])
    with pytest.raises(ValueError, match=r"one sample: x\[None\]"):
        model.log_prob(good[0])
    bad = good.copy()
    bad[2, 1, 3] = 2
    with pytest.raises(dgm.DataError, match=r"x\[2\]: position \[1,3\]: value 2 outside \{0\.\.1\}"):
        model.log_prob(bad)
    with pytest.raises(ValueError, match=r"x\[1\]: position \[0,0\]: value -1 outside"):
        model.log_prob(np.array([[[0] * 5] * 5, [[-1] + [0] * 4] + [[0] * 5] * 4]))
    with pytest.raises(ValueError, match=r"x: dtype float64; dgm takes arrays of integers"):
        model.log_prob(good.astype(np.float64))
    with pytest.raises(ValueError, match=r"labels: given, but the space .* has no labels"):
        model.log_prob(good, labels=np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match=r"x: a str, but the model has no text codec"):
        model.log_prob("#####")
    with pytest.raises(ValueError, match=r"x: expected a NumPy integer array, got dict"):
        model.log_prob({})
    with pytest.raises(ValueError, match="temperature"):
        model.sample(3, temperature=0)
    with pytest.raises(ValueError, match="label 2: the space"):
        model.sample(3, label=2)
    with pytest.raises(ValueError, match="known_mask: shape"):
        model.complete(good, np.ones((4, 5), dtype=bool))


def test_errors_become_value_and_os_errors(source_dir, tmp_path):
    with pytest.raises(OSError, match="nothing.dgm"):
        dgm.load(tmp_path / "nothing.dgm")
    assert issubclass(dgm.IoError, OSError) and issubclass(dgm.IoError, dgm.Error)
    bad = tmp_path / "bad.dgm"
    bad.write_bytes(b"not a model at all\n" * 10)
    with pytest.raises(ValueError, match="bad.dgm: not a dgm model file"):
        dgm.load(bad)
    with pytest.raises(dgm.ConfigError, match="componets"):
        dgm.train(source_dir / "configs/digits.json", model__componets=3)
    with pytest.raises(ValueError, match="unknown model type|model.type"):
        dgm.train(source_dir / "configs/digits.json", model__type="nonsense")
    with pytest.raises(OSError, match="missing.txt"):
        dgm.train(source_dir / "configs/digits.json", **{"data.train": str(tmp_path / "missing.txt")})


def test_space_and_help():
    s = dgm.Space(shape=(5, 5), levels=2)
    assert s.shape == (5, 5) and s.levels == 2 and s.labels is None and s.dims == 25
    assert str(s) == "{0..1}^(5x5)" and s == dgm.Space.from_dict({"shape": [5, 5], "levels": 2})
    assert dgm.Space((1, 28, 28), 256, labels=10).labels == 10
    with pytest.raises(ValueError):
        dgm.Space(shape=(0, 5), levels=2)
    for f in (dgm.load, dgm.train, dgm.read, dgm.Model.log_prob, dgm.Model.sample, dgm.Model.complete,
              dgm.Model.save, dgm.Model.describe):
        assert f.__doc__ and len(f.__doc__) > 60
    assert "log-likelihoods" in dgm.__doc__
