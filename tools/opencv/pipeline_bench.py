#!/usr/bin/env python3
"""OpenCV 4.14 anchor for `biomatch bench pipeline`: decode, detect, align, embed.

For every image, every round: cv2.imdecode of the file's bytes (read into memory before
timing, so disk is not measured), FaceDetectorYN, then alignCrop and feature for every face
found. Detection runs the way BioMatch's detector does: an image whose long side exceeds
--long-side is first resized (cv2.resize, INTER_LINEAR) so its long side equals it, with
setInputSize of the resized image (FaceDetectorYN pads to multiples of 32 itself); the
landmarks are mapped back and alignment uses the full-resolution image. --long-side 0
detects on the original size instead.

Parallelism (2 cores here), chosen with --mode:
  processes  a pool of --workers processes, each with cv2.setNumThreads(1), images handed
             out one at a time (the default: the faster of the two on this machine)
  threads    one process, cv2.setNumThreads(--workers), images one after another
  compare    measures both, prints the faster one's line, the other's figures on stderr

Every worker first runs each image once (warm-up) before the clock starts. Prints ONE JSON
line: {"images", "seconds", "images_per_s", "faces", "opencv_version", "mode", "workers",
"rounds", "long_side"}.

    $(scripts/opencv-venv) tools/opencv/pipeline_bench.py --rounds 5 [IMAGE ...]

With no IMAGE, uses the eight test photos in $BIOMATCH_HOME/testdata/photos. Reads
BIOMATCH_HOME (default: <repo>/.biomatch) for the original int8bq models.
"""

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
PHOTOS = [
    "obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg",
    "obama_partial_face.jpg", "obama_partial_face2.jpg", "32bit.png", "astronaut.png",
]


class Pipeline:
    """One detector and one recogniser, as each worker owns them."""

    def __init__(self, models, long_side):
        self.detector = cv2.FaceDetectorYN.create(
            str(models / "face_detection_yunet_2023mar_int8bq.onnx"), "", (320, 320), 0.6, 0.3, 5000)
        self.recognizer = cv2.FaceRecognizerSF.create(
            str(models / "face_recognition_sface_2021dec_int8bq.onnx"), "")
        self.long_side = long_side

    def run(self, encoded):
        """Returns the number of faces embedded."""
        image = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_COLOR)
        height, width = image.shape[:2]
        detect_on, scale_x, scale_y = image, 1.0, 1.0
        if self.long_side and max(width, height) > self.long_side:
            scale = self.long_side / max(width, height)
            size = (round(width * scale), round(height * scale))
            detect_on = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
            scale_x, scale_y = width / size[0], height / size[1]
        self.detector.setInputSize((detect_on.shape[1], detect_on.shape[0]))
        _, faces = self.detector.detect(detect_on)
        if faces is None:
            return 0
        faces[:, 0:14:2] *= scale_x
        faces[:, 1:14:2] *= scale_y
        for face in faces:
            crop = self.recognizer.alignCrop(image, face)
            feature = self.recognizer.feature(crop)
            feature /= np.linalg.norm(feature)
        return len(faces)


# --- processes mode: module-level state, one copy per worker process -------------------
_worker_pipeline = None
_worker_images = None


def _init_worker(models, long_side, images, barrier):
    global _worker_pipeline, _worker_images
    cv2.setNumThreads(1)
    _worker_pipeline = Pipeline(models, long_side)
    _worker_images = images
    for encoded in images:
        _worker_pipeline.run(encoded)
    barrier.wait()  # the parent starts the clock once every worker is warm


def _run_index(index):
    return _worker_pipeline.run(_worker_images[index])


def bench_processes(models, long_side, images, rounds, workers):
    context = multiprocessing.get_context("spawn")  # no OpenCV thread pool inherited through fork
    barrier = context.Barrier(workers + 1)
    tasks = [index for _ in range(rounds) for index in range(len(images))]
    with context.Pool(workers, initializer=_init_worker,
                      initargs=(models, long_side, images, barrier)) as pool:
        barrier.wait()
        start = time.perf_counter()
        faces = sum(pool.imap_unordered(_run_index, tasks, chunksize=1))
        seconds = time.perf_counter() - start
    return len(tasks), seconds, faces


def bench_threads(models, long_side, images, rounds, workers):
    previous = cv2.getNumThreads()
    cv2.setNumThreads(workers)
    try:
        pipeline = Pipeline(models, long_side)
        for encoded in images:
            pipeline.run(encoded)
        start = time.perf_counter()
        faces = sum(pipeline.run(encoded) for _ in range(rounds) for encoded in images)
        seconds = time.perf_counter() - start
    finally:
        cv2.setNumThreads(previous)
    return rounds * len(images), seconds, faces


def report(mode, count, seconds, faces, args):
    return {
        "images": count,
        "seconds": round(seconds, 4),
        "images_per_s": round(count / seconds, 3),
        "faces": faces,
        "opencv_version": cv2.__version__,
        "mode": mode,
        "workers": args.workers,
        "rounds": args.rounds,
        "long_side": args.long_side,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", type=Path, help="image files (default: the eight test photos)")
    parser.add_argument("--rounds", type=int, default=5, help="times each image is processed while timed")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes (processes mode) or OpenCV threads (threads mode)")
    parser.add_argument("--mode", choices=("processes", "threads", "compare"), default="processes")
    parser.add_argument("--long-side", type=int, default=640,
                        help="resize for detection when the long side exceeds this; 0 detects at full size")
    args = parser.parse_args()
    if args.rounds < 1 or args.workers < 1 or args.long_side < 0:
        parser.error("--rounds and --workers must be >= 1, --long-side >= 0")

    home = Path(os.environ.get("BIOMATCH_HOME", REPO / ".biomatch"))
    models = home / "models" / "original"
    paths = args.images or [home / "testdata" / "photos" / name for name in PHOTOS]
    images = [path.read_bytes() for path in paths]

    benches = {"processes": bench_processes, "threads": bench_threads}
    modes = list(benches) if args.mode == "compare" else [args.mode]
    results = [report(mode, *benches[mode](models, args.long_side, images, args.rounds, args.workers), args)
               for mode in modes]
    best = max(results, key=lambda result: result["images_per_s"])
    for other in results:
        if other is not best:
            print("pipeline_bench: slower: " + json.dumps(other), file=sys.stderr)
    print(json.dumps(best))


if __name__ == "__main__":
    main()
