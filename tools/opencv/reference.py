#!/usr/bin/env python3
"""Writes OpenCV 4.14's answers on the test photos as a JSON fixture for parity tests.

Runs cv2.FaceDetectorYN and cv2.FaceRecognizerSF on the ORIGINAL int8bq models (the
files BioMatch prepares for ONNX Runtime) the way OpenCV users call them, and records,
per image and per detection run: every face (box, 5 landmarks, score), a summary of
its aligned 112x112 crop and its L2-normalised 128-D feature; then the pairwise cosine
between the images' best faces.

Run by hand (not by CI), from the repository root, after scripts/setup:

    $(scripts/opencv-venv) tools/opencv/reference.py

Reads BIOMATCH_HOME (default: <repo>/.biomatch). Writes
Tests/FaceEngineTests/Fixtures/opencv_reference.json (or the path given with --output).
"""

import argparse
import hashlib
import itertools
import json
import os
import re
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNIZER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"

SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3
TOP_K = 5000
LONG_SIDE = 640
ORL_BORDER = 32
NUMBER_LIST = re.compile(r"\[((?:\s*-?[0-9.eE+-]+,?)+\s*)\]")

PHOTOS = [
    "obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg",
    "obama_partial_face.jpg", "obama_partial_face2.jpg", "32bit.png", "astronaut.png",
]
# Tightly cropped 92x112 greyscale faces; s1 has two so the fixture holds one ORL genuine pair.
ORL = ["s1/1.pgm", "s1/2.pgm", "s2/1.pgm", "s3/5.pgm"]

# Crop pixels to sample: the five ArcFace template points (rounded), the centre and
# four points near the corners, so a Swift warp can be checked pixel by pixel.
CROP_SAMPLES = [(38, 52), (74, 52), (56, 72), (42, 92), (71, 92), (56, 56), (8, 8), (103, 8), (8, 103), (103, 103)]


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_bgr(path):
    """Decodes like OpenCV users do; returns (3-channel BGR image, what was converted)."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        sys.exit(f"reference: cannot decode {path}")
    if raw.ndim == 2:
        return cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR), "GRAY->BGR (grey replicated to 3 channels)"
    if raw.shape[2] == 4:
        alpha = raw[..., 3]
        note = f"RGBA->BGR (alpha dropped, not composited; alpha min {int(alpha.min())} max {int(alpha.max())})"
        return cv2.cvtColor(raw, cv2.COLOR_BGRA2BGR), note
    # IMREAD_COLOR would apply EXIF orientation; check that none of these photos needs it.
    if not np.array_equal(raw, cv2.imread(str(path), cv2.IMREAD_COLOR)):
        sys.exit(f"reference: {path} carries an EXIF orientation; decide how to record it")
    return raw, None


def detect(detector, image):
    height, width = image.shape[:2]
    detector.setInputSize((width, height))
    _, faces = detector.detect(image)
    return np.zeros((0, 15), np.float32) if faces is None else faces


def crop_summary(crop_bgr):
    rgb = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB)
    return {
        "mean_rgb": [round(float(v), 4) for v in rgb.reshape(-1, 3).mean(axis=0)],
        "samples": [[x, y] + [int(v) for v in rgb[y, x]] for x, y in CROP_SAMPLES],
        "sha256_rgb": hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest(),
    }


def describe_faces(recognizer, image, faces):
    """faces are rows in `image` coordinates (OpenCV's 15-float layout)."""
    described = []
    for row in faces:
        crop = recognizer.alignCrop(image, row)
        feature = recognizer.feature(crop).reshape(-1).astype(np.float64)
        norm = float(np.linalg.norm(feature))
        described.append({
            "box": [round(float(v), 4) for v in row[0:4]],
            "landmarks": [[round(float(row[4 + 2 * k]), 4), round(float(row[5 + 2 * k]), 4)] for k in range(5)],
            "score": round(float(row[14]), 6),
            "crop": crop_summary(crop),
            "feature_raw_norm": round(norm, 5),
            "feature": [round(float(v), 7) for v in feature / norm],
        })
    return described


def map_rows(faces, scale_x, scale_y, offset):
    """Maps detector rows to original-image coordinates: (v - offset) * scale."""
    mapped = faces.copy()
    xs = [0, 4, 6, 8, 10, 12]
    ys = [1, 5, 7, 9, 11, 13]
    mapped[:, xs] = (faces[:, xs] - offset) * scale_x
    mapped[:, ys] = (faces[:, ys] - offset) * scale_y
    mapped[:, 2] = faces[:, 2] * scale_x
    mapped[:, 3] = faces[:, 3] * scale_y
    return mapped


def runs_for(detector, recognizer, image, is_orl):
    height, width = image.shape[:2]
    runs = []
    native = detect(detector, image)
    runs.append({
        "name": "native",
        "description": "setInputSize(image width, height); detect on the decoded image as is",
        "detect_width": width, "detect_height": height,
        "faces": describe_faces(recognizer, image, native),
    })
    if max(width, height) > LONG_SIDE:
        scale = LONG_SIDE / max(width, height)
        resized_width, resized_height = round(width * scale), round(height * scale)
        resized = cv2.resize(image, (resized_width, resized_height), interpolation=cv2.INTER_LINEAR)
        scale_x, scale_y = width / resized_width, height / resized_height
        faces = map_rows(detect(detector, resized), scale_x, scale_y, 0.0)
        runs.append({
            "name": "long_side_640",
            "description": (
                "cv2.resize(INTER_LINEAR) so the long side is 640 (each side rounded), setInputSize of the "
                "resized image, detect; boxes and landmarks mapped back to original coordinates by "
                "multiplying x by map_scale_x and y by map_scale_y; crops and features come from "
                "alignCrop on the ORIGINAL image with the mapped face"
            ),
            "detect_width": resized_width, "detect_height": resized_height,
            "map_scale_x": scale_x, "map_scale_y": scale_y,
            "faces": describe_faces(recognizer, image, faces),
        })
    if is_orl:
        bordered = cv2.copyMakeBorder(image, *(ORL_BORDER,) * 4, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        found = detect(detector, bordered)
        faces = map_rows(found, 1.0, 1.0, float(ORL_BORDER))
        described = describe_faces(recognizer, image, faces)
        # alignCrop's warp fills outside the image with black, so aligning on the original with
        # mapped landmarks must give the same crop as aligning on the bordered image.
        for row, face in zip(found, described):
            direct = crop_summary(recognizer.alignCrop(bordered, row))
            if direct["sha256_rgb"] != face["crop"]["sha256_rgb"]:
                sys.exit("reference: border crop differs from mapped crop; the fixture's claim would be false")
        runs.append({
            "name": f"border_{ORL_BORDER}",
            "description": (
                f"cv2.copyMakeBorder: {ORL_BORDER} px of black (0,0,0) on every side, setInputSize of the bordered "
                f"image, detect; coordinates mapped back to the original by subtracting {ORL_BORDER}; crops and "
                "features from alignCrop on the original image with the mapped face (identical to aligning "
                "on the bordered image, checked)"
            ),
            "detect_width": width + 2 * ORL_BORDER, "detect_height": height + 2 * ORL_BORDER,
            "border": ORL_BORDER,
            "faces": described,
        })
    return runs


def pairwise(images, run_name):
    """Cosine between the best faces of every pair of images, using run `run_name` where an
    image has it and its native run otherwise."""
    best = {}
    for entry in images:
        runs = {run["name"]: run for run in entry["runs"]}
        run = runs.get(run_name, runs["native"])
        if run["faces"]:
            top = max(run["faces"], key=lambda face: face["score"])
            best[entry["id"]] = np.array(top["feature"], np.float64)
    pairs = []
    for a, b in itertools.combinations(best, 2):
        pairs.append({"a": a, "b": b, "cosine": round(float(best[a] @ best[b]), 6)})
    return {
        "run": run_name,
        "description": f"best-scoring face per image; run '{run_name}' where present, else 'native'",
        "pairs": pairs,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path,
                        default=REPO / "Tests/FaceEngineTests/Fixtures/opencv_reference.json")
    args = parser.parse_args()

    home = Path(os.environ.get("BIOMATCH_HOME", REPO / ".biomatch"))
    models = home / "models" / "original"
    testdata = home / "testdata"
    detector = cv2.FaceDetectorYN.create(str(models / DETECTOR_FILE), "", (320, 320),
                                         SCORE_THRESHOLD, NMS_THRESHOLD, TOP_K)
    recognizer = cv2.FaceRecognizerSF.create(str(models / RECOGNIZER_FILE), "")

    images = []
    for relative in [f"photos/{name}" for name in PHOTOS] + [f"orl/{name}" for name in ORL]:
        path = testdata / relative
        image, conversion = load_bgr(path)
        height, width = image.shape[:2]
        is_orl = relative.startswith("orl/")
        identifier = ("orl_" + relative[4:-4].replace("/", "_")) if is_orl else Path(relative).stem
        images.append({
            "id": identifier,
            "path": relative,
            "sha256": sha256_file(path),
            "width": width,
            "height": height,
            "conversion": conversion,
            "runs": runs_for(detector, recognizer, image, is_orl),
        })

    fixture = {
        "schema_version": 1,
        "generator": "tools/opencv/reference.py",
        "opencv_version": cv2.__version__,
        "numpy_version": np.__version__,
        "models": {
            "detector": {"file": DETECTOR_FILE, "sha256": sha256_file(models / DETECTOR_FILE)},
            "recognizer": {"file": RECOGNIZER_FILE, "sha256": sha256_file(models / RECOGNIZER_FILE)},
        },
        "detector_settings": {
            "score_threshold": SCORE_THRESHOLD,
            "nms_threshold": NMS_THRESHOLD,
            "top_k": TOP_K,
            "input_size": "setInputSize(width, height) of the image each run detects on",
            "padding": "FaceDetectorYN pads bottom and right with zeros to multiples of 32 internally",
        },
        "conventions": {
            "path": "relative to $BIOMATCH_HOME/testdata",
            "decode": "cv2.imread(IMREAD_UNCHANGED), then 'conversion' if not null; none of the photos has an "
                      "EXIF orientation that changes the pixels",
            "coordinates": "pixels of the original image as OpenCV reports them (x right, y down, origin top-left)",
            "box": "[x, y, width, height]",
            "landmarks": "five [x, y]: right eye, left eye, nose tip, right mouth corner, left mouth corner "
                         "(image left/right as OpenCV names them)",
            "faces_order": "as FaceDetectorYN returns them (after NMS)",
            "crop": "recognizer.alignCrop(original image, face): 112x112; mean_rgb is the per-channel mean in "
                    "R, G, B order; samples are [x, y, r, g, b] at integer pixel x, y; sha256_rgb is over the 112*112*3 bytes "
                    "in interleaved RGB order (RGBImage's layout)",
            "feature": "recognizer.feature(crop), 128 floats, divided by its L2 norm (feature_raw_norm)",
            "cosine": "dot product of two L2-normalised features",
        },
        "images": images,
        "pairwise_cosine": [pairwise(images, name) for name in ("native", "long_side_640", f"border_{ORL_BORDER}")],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(fixture, indent=1)
    # One line per list of plain numbers (features, boxes, landmarks) keeps the file readable.
    text = NUMBER_LIST.sub(lambda match: "[" + ", ".join(match.group(1).replace(",", " ").split()) + "]", text)
    with open(args.output, "w") as handle:
        handle.write(text + "\n")
    print(f"reference: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
