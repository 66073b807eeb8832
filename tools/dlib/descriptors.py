#!/usr/bin/env python3
"""dlib's own face descriptors on the public-domain test photos: the parity fixtures of DlibEngineTests.

Run by hand (never by CI), with the pinned dlib of scripts/dlib-venv:

    BIOMATCH_HOME=... "$(scripts/dlib-venv)" tools/dlib/descriptors.py [--benchmark]

For each photo it runs dlib's HOG face detector, keeps the largest face, finds dlib's five points
with shape_predictor_5_face_landmarks.dat, cuts dlib's 150x150 chip with
get_face_chip(image, shape, 150, 0.25) and computes the descriptor with
face_recognition_model_v1.compute_face_descriptor(chip). It writes each chip as a PNG and all the
descriptors as JSON into Tests/DlibEngineTests/Fixtures/descriptors/. The chips are tiny
derivatives of US-government (public-domain) photos; the photos themselves are never committed.

--benchmark also times dlib's descriptor on the same chips, one at a time and in batches of 8,
and prints milliseconds per chip (nothing is written for it).
"""
import argparse
import hashlib
import json
import os
import re
import sys
import time

import dlib
import numpy as np

PHOTOS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png"]
CHIP_SIDE = 150
CHIP_PADDING = 0.25


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=os.environ.get("BIOMATCH_HOME", os.path.join(repo, ".biomatch")))
    parser.add_argument("--out", default=os.path.join(repo, "Tests/DlibEngineTests/Fixtures/descriptors"))
    parser.add_argument("--benchmark", action="store_true", help="time dlib's descriptor on the chips")
    parser.add_argument("--repeats", type=int, default=5, help="timing passes over the chips")
    args = parser.parse_args()

    models = os.path.join(args.home, "models/original")
    resnet_file = os.path.join(models, "dlib_face_recognition_resnet_model_v1.dat")
    predictor_file = os.path.join(models, "shape_predictor_5_face_landmarks.dat")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(predictor_file)
    recogniser = dlib.face_recognition_model_v1(resnet_file)

    os.makedirs(args.out, exist_ok=True)
    entries = []
    chips = []
    for photo in PHOTOS:
        image = dlib.load_rgb_image(os.path.join(args.home, "testdata/photos", photo))
        faces = detector(image, 1)
        if len(faces) == 0:
            sys.exit(f"descriptors.py: no face found in {photo}")
        face = max(faces, key=lambda rect: rect.area())
        shape = predictor(image, face)
        chip = dlib.get_face_chip(image, shape, CHIP_SIDE, CHIP_PADDING)
        descriptor = recogniser.compute_face_descriptor(chip)
        name = os.path.splitext(photo)[0]
        chip_file = name + ".png"
        dlib.save_image(chip, os.path.join(args.out, chip_file))
        chips.append(chip)
        entries.append({
            "name": name,
            "photo": photo,
            "chip": chip_file,
            "faceRectangle": [face.left(), face.top(), face.right(), face.bottom()],
            "points": [[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)],
            "descriptor": [float(value) for value in descriptor],
        })
        print(f"{photo}: face {face}, descriptor length {np.linalg.norm(np.array(descriptor)):.4f}")

    fixture = {
        "generator": "tools/dlib/descriptors.py",
        "dlib": dlib.__version__,
        "resnetSHA256": sha256(resnet_file),
        "predictorSHA256": sha256(predictor_file),
        "chipSide": CHIP_SIDE,
        "chipPadding": CHIP_PADDING,
        "chips": entries,
    }
    text = json.dumps(fixture, indent=1)
    # Numbers of one array on one line: a descriptor is one line, not 128.
    text = re.sub(r"\[\s*([-0-9.e,\s]+?)\s*\]", lambda m: "[" + ", ".join(m.group(1).replace(",", " ").split()) + "]", text)
    with open(os.path.join(args.out, "descriptors.json"), "w") as handle:
        handle.write(text + "\n")

    vectors = {entry["name"]: np.array(entry["descriptor"]) for entry in entries}
    names = list(vectors)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            print(f"distance {first} - {second}: {np.linalg.norm(vectors[first] - vectors[second]):.4f}")

    if args.benchmark:
        benchmark(recogniser, chips, args.repeats)


def benchmark(recogniser, chips, repeats):
    """Milliseconds per chip of dlib's descriptor, one chip per call and eight per call."""
    batch = [chips[i % len(chips)] for i in range(8)]
    recogniser.compute_face_descriptor(batch[0])  # warm-up
    single = []
    for _ in range(repeats):
        for chip in batch:
            start = time.perf_counter()
            recogniser.compute_face_descriptor(chip)
            single.append(time.perf_counter() - start)
    batched = []
    for _ in range(repeats):
        start = time.perf_counter()
        recogniser.compute_face_descriptor(batch)
        batched.append((time.perf_counter() - start) / len(batch))
    print(f"dlib {dlib.__version__} single: median {1000 * np.median(single):.1f} ms/chip, "
          f"min {1000 * min(single):.1f}")
    print(f"dlib {dlib.__version__} batch 8: median {1000 * np.median(batched):.1f} ms/chip, "
          f"min {1000 * min(batched):.1f}")


if __name__ == "__main__":
    main()
