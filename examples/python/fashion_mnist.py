#!/usr/bin/python3
"""Fashion-MNIST from NumPy with dgm: train, sample, plot, compare log-likelihoods.

Reads the IDX files of Debian's dataset-fashion-mnist with NumPy alone,
binarises the images at 128, trains two class-conditional models on the same
arrays (independent pixels, then a mixture of products of Bernoullis), samples
a sheet of ten images a label, and compares the exact test log-likelihoods
in nats (the label given, and summed out) and bits/dim, per class as well.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/fashion_mnist.py
    PYTHONPATH=build/python /usr/bin/python3 examples/python/fashion_mnist.py --train 60000 --components 50

The sheet (fmnist-samples.png) is drawn when matplotlib is installed
(Debian python3-matplotlib); the models are saved for `dgm score` and
`dgm sample` (fmnist-independent.dgm, fmnist-mixture.dgm).
"""
import argparse
import gzip
import logging
import time
from pathlib import Path

import numpy as np

import dgm

FASHION = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """An IDX file (plain or .gz) as a NumPy array: magic 0x0000 type rank, extents, bytes."""
    with (gzip.open if str(path).endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    rank = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=20000, help="training images (of 60000) [20000]")
    ap.add_argument("--components", type=int, default=20, help="mixture components a label [20]")
    ap.add_argument("--iterations", type=int, default=30, help="EM iterations at most [30]")
    ap.add_argument("--threads", type=int, default=0, help="threads (0: every core) [0]")
    ap.add_argument("--out", default=".", help="folder for the models and the sheet [.]")
    args = ap.parse_args()
    # dgm's notes (fallbacks, restarts) go to the "dgm" logger.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("dgm: %(message)s"))
    logging.getLogger("dgm").addHandler(handler)
    logging.getLogger("dgm").setLevel(logging.INFO)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # NumPy arrays: (N, 28, 28) uint8 in {0, 1}, labels (N,) int.
    x_all = (read_idx(FASHION / "train-images-idx3-ubyte.gz") >= 128).astype(np.uint8)
    y_all = read_idx(FASHION / "train-labels-idx1-ubyte.gz").astype(np.int64)
    x_test = (read_idx(FASHION / "t10k-images-idx3-ubyte.gz") >= 128).astype(np.uint8)
    y_test = read_idx(FASHION / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    # The last 10000 training images validate (early stopping), as configs/fmnist-mixture.json does.
    x_valid, y_valid = x_all[-10000:], y_all[-10000:]
    x_train, y_train = x_all[:min(args.train, 50000)], y_all[:min(args.train, 50000)]
    print(f"train {x_train.shape} valid {x_valid.shape} test {x_test.shape}, dtype {x_train.dtype}")

    space = {"shape": [28, 28], "levels": 2, "labels": 10}
    configs = {
        "independent": {"space": space, "model": {"type": "independent"}},
        "mixture": {"space": space, "model": {"type": "mixture", "components": args.components},
                    "train": {"seed": 1, "max_iterations": args.iterations}},
    }
    D = 28 * 28
    results = {}
    for name, cfg in configs.items():
        def progress(step):
            print(f"  {name} {step['unit']} {step['step']}/{step['total']}: train {step['train_nll']:.3f}"
                  f" valid {step['valid_nll']:.3f} nats/image", flush=True)

        t = time.process_time()
        model = dgm.train(cfg, progress, data=x_train, labels=y_train, validation=x_valid,
                          validation_labels=y_valid, threads=args.threads)
        fit_cpu = time.process_time() - t
        model.save(out / f"fmnist-{name}.dgm")
        t = time.perf_counter()
        given = model.log_prob(x_test, labels=y_test)  # log P(x | y), nats
        marginal = model.log_prob(x_test)  # log sum_y P(y) P(x | y)
        score_s = time.perf_counter() - t
        results[name] = (model, given, marginal)
        print(f"{name}: fitted in {fit_cpu:.1f} s CPU; scored 2 x {len(x_test)} test images in {score_s:.2f} s; "
              f"test NLL {-given.mean():.3f} nats/image given the label ({-given.mean() / D / np.log(2):.4f} "
              f"bits/dim), {-marginal.mean():.3f} with it summed out ({-marginal.mean() / D / np.log(2):.4f} bits/dim)")

    # Per class: which model explains which clothes better (mean log P(x | y), nats).
    print(f"\n{'class':<12} {'independent':>12} {'mixture':>10} {'gain':>8}")
    for c, label in enumerate(CLASSES):
        a = results["independent"][1][y_test == c].mean()
        b = results["mixture"][1][y_test == c].mean()
        print(f"{label:<12} {a:12.2f} {b:10.2f} {b - a:8.2f}")
    _, given, _ = results["mixture"]
    print(f"the mixture prefers {np.mean(given > results['independent'][1]):.1%} of the test images")

    # The mixture as a classifier: argmax_y log P(y) + log P(x | y).
    model = results["mixture"][0]
    joint = np.stack([model.log_prob(x_test, labels=np.full(len(x_test), c)) for c in range(10)], axis=1)
    joint += model.label_log_prior()
    print(f"as a classifier (argmax_y P(x, y)): {np.mean(joint.argmax(axis=1) == y_test):.1%} test accuracy")

    # Ten samples a label, seeded (the samples `dgm sample -s L -l L` draws from the saved model).
    sheet = np.stack([model.sample(10, seed=label, label=label)[0] for label in range(10)])  # (10, 10, 28, 28)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (python3-matplotlib): no sheet drawn")
        return
    fig, axes = plt.subplots(10, 11, figsize=(11, 10.5))
    for row in range(10):
        axes[row, 0].text(1.0, 0.5, CLASSES[row], ha="right", va="center", fontsize=9)
        axes[row, 0].axis("off")
        for col in range(10):
            axes[row, col + 1].imshow(sheet[row, col], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            axes[row, col + 1].axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.94, bottom=0.01, wspace=0.05, hspace=0.05)
    fig.suptitle(f"dgm mixture (K={args.components} a label) on binarised Fashion-MNIST: samples, one row a label")
    fig.savefig(out / "fmnist-samples.png", dpi=80)
    print(f"sheet written to {out / 'fmnist-samples.png'}")


if __name__ == "__main__":
    main()
