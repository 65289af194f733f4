"""Classify images with a dse bundle, using only TVM's runtime and numpy (Pillow for image files).

Copied as ``run.py`` into every bundle ``python -m dse.export`` writes; it imports nothing of
dse, so the bundle folder alone is what a device needs (``pip install apache-tvm numpy``)::

    python run.py photo.jpg other.png        # one line per image: class index, name, score
    python run.py --npz eval.npz             # arrays x (N,C,H,W float32, preprocessed), y optional
    python run.py --npz eval.npz --json      # the same as one JSON object

``--threads N`` sets TVM's thread count (default: all cores). The library was compiled for
batch 1, so images are run one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
MANIFEST = "dse-bundle.json"


class Bundle:
    """The compiled model of a bundle folder, loaded on its device."""

    def __init__(self, folder: Path = HERE) -> None:
        import tvm
        from tvm import relax

        self.manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
        self.device = tvm.cuda(0) if self.manifest["device"] == "cuda" else tvm.cpu(0)
        library = tvm.runtime.load_module(str(folder / self.manifest["library"]))
        self._vm = relax.VirtualMachine(library, self.device)
        self._placed = False

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Scores of one preprocessed input of the manifest's input shape."""
        import tvm

        before = None if self._placed else _thread_ids()
        out = self._vm["main"](tvm.runtime.tensor(np.ascontiguousarray(x, dtype=np.float32), self.device))
        if before is not None:  # the first run started TVM's thread pool
            keep_off_worker_cores(_thread_ids() - before - {threading.get_native_id()})
            self._placed = True
        first = out[0] if not hasattr(out, "numpy") else out
        return first.numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Top-1 class of every input of ``x`` (N, C, H, W), one at a time."""
        return np.array([int(self.logits(x[i : i + 1]).argmax()) for i in range(len(x))], dtype=np.int64)


def _thread_ids() -> set[int]:
    try:
        return {int(tid) for tid in os.listdir("/proc/self/task")}
    except OSError:  # not Linux
        return set()


def keep_off_worker_cores(workers: set[int]) -> None:
    """Keep this (calling) thread off the cores TVM's pool ``workers`` are bound to, one each.

    The calling thread runs the first share of every parallel loop but may roam every core;
    when the OS puts it on a bound worker's core the two take turns and the model runs at one
    core's speed (seen on a 2-core AMD EPYC: MobileNetV2 13.8 ms against 6.9-7.8 ms from one
    run to the next). The cores no worker holds are where TVM's binding means it to run. This is
    dse's timing placement (``search_spaces.targets.devices.local``) again, as run.py imports
    nothing of dse.
    """
    if not hasattr(os, "sched_setaffinity"):
        return
    bound: set[int] = set()
    for tid in workers:
        try:
            cores = os.sched_getaffinity(tid)
        except OSError:  # the thread ended meanwhile
            continue
        if len(cores) == 1:
            bound |= cores
    own = os.sched_getaffinity(0)
    if own - bound and bound & own:
        os.sched_setaffinity(0, own - bound)


def preprocess(path: Path, spec: dict[str, Any]) -> np.ndarray:
    """An image file as the model's input (the manifest's ``preprocessing``), shape (1, C, H, W)."""
    from PIL import Image

    image = Image.open(path).convert("L" if spec["channels"] == 1 else "RGB")
    crop = spec["crop"]
    if spec.get("resize"):
        scale = spec["resize"] / min(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
        left, top = (image.width - crop) // 2, (image.height - crop) // 2
        image = image.crop((left, top, left + crop, top + crop))
    else:
        image = image.resize((crop, crop), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    mean = np.asarray(spec["mean"], dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(spec["std"], dtype=np.float32).reshape(-1, 1, 1)
    return ((pixels - mean) / std)[None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("images", nargs="*", type=Path, help="image files to classify")
    parser.add_argument("--npz", type=Path, help="preprocessed inputs: array x (N,C,H,W), labels y optional")
    parser.add_argument("--threads", type=int, help="TVM threads (default: all cores)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not args.images and args.npz is None:
        parser.print_usage(sys.stderr)
        print("run.py: give image files or --npz FILE", file=sys.stderr)
        return 2
    if args.threads:
        os.environ["TVM_NUM_THREADS"] = str(args.threads)  # before TVM's runtime starts
    bundle = Bundle()
    names = bundle.manifest.get("classes") or []
    result: dict[str, Any] = {}
    if args.npz is not None:
        arrays = np.load(args.npz)
        predictions = bundle.predict(arrays["x"])
        result["predictions"] = predictions.tolist()
        if "y" in arrays:
            result["accuracy"] = float((predictions == arrays["y"]).mean())
            result["images"] = len(predictions)
    for path in args.images:
        scores = bundle.logits(preprocess(path, bundle.manifest["preprocessing"]))[0]
        best = int(scores.argmax())
        result.setdefault("images_classified", []).append(
            {"image": str(path), "class": best, "name": names[best] if best < len(names) else str(best)}
        )
    if args.json:
        print(json.dumps(result))
        return 0
    if "accuracy" in result:
        print(f"top-1 accuracy {result['accuracy']:.4f} on {result['images']} images")
    elif "predictions" in result:
        print(" ".join(map(str, result["predictions"])))
    for row in result.get("images_classified", []):
        print(f"{row['image']}: class {row['class']} ({row['name']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
