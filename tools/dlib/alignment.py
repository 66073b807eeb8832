#!/usr/bin/env python3
"""Writes dlib 20.0's alignment answers on the test photos as fixtures for BioMatch's port.

For each test photo (and for obama.jpg enlarged 3x by pixel replication, so the face is
large enough for extract_image_chip's pyramid halving to run), records:
  - the SHA-256 and channel means of the RGB pixels dlib decoded (BioMatch's PNG decoder
    gives the same pixels; dlib's bundled libjpeg and libjpeg-turbo decode JPEG slightly
    differently, so the Swift tests run on BioMatch's own decode of the same file);
  - the largest rectangle of dlib's HOG frontal face detector (upsampled once for the photos,
    not for the enlarged copy);
  - the 5 points of shape_predictor_5_face_landmarks.dat on that rectangle and on a few
    rectangles derived from it (shifted and rescaled), so the predictor is checked on more
    than one rectangle per image;
  - the chip rectangle and angle of get_face_chip_details(shape, 150, 0.25) and the chip
    dlib.get_face_chip(img, shape, 150, 0.25) as a PNG.
Also records the HOG detector's largest rectangle on every ORL face (upsampled once), the
data for measuring how YuNet's box maps to dlib's rectangle.

Run by hand (not by CI), from the repository root, after scripts/setup:

    $(scripts/dlib-venv) tools/dlib/alignment.py

Reads BIOMATCH_HOME (default: <repo>/.biomatch). Writes alignment.json and the chip PNGs to
Tests/DlibEngineTests/Fixtures/alignment/ (or the folder given with --output).
"""

import argparse
import hashlib
import json
import os
import re
from pathlib import Path

import dlib
import numpy as np

REPO = Path(__file__).resolve().parents[2]
PHOTOS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png"]
ENLARGED = ("obama.jpg", 3)
PREDICTOR_SHA256 = "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
# Derived rectangles as (dx, dy, scale) of the detector's rectangle: shift by a fraction of
# its width/height, rescale around its centre.
DERIVED = [(0.0, 0.0, 1.2), (0.08, -0.05, 1.0), (-0.06, 0.1, 0.85)]


def rect_dict(r):
    return {"left": r.left(), "top": r.top(), "right": r.right(), "bottom": r.bottom()}


def derived_rect(r, dx, dy, scale):
    w = r.right() - r.left()
    h = r.bottom() - r.top()
    cx = (r.left() + r.right()) / 2 + dx * w
    cy = (r.top() + r.bottom()) / 2 + dy * h
    hw, hh = w * scale / 2, h * scale / 2
    return dlib.rectangle(round(cx - hw), round(cy - hh), round(cx + hw), round(cy + hh))


def largest(rects):
    return max(rects, key=lambda r: r.width() * r.height())


def read_pgm(path):
    data = path.read_bytes()
    fields, offset = [], 0
    # P5 header: magic, width, height, maxval, one whitespace byte, then the pixels.
    while len(fields) < 4:
        while data[offset:offset + 1].isspace():
            offset += 1
        if data[offset:offset + 1] == b"#":
            offset = data.index(b"\n", offset) + 1
            continue
        end = offset
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[offset:end])
        offset = end
    offset += 1
    assert fields[0] == b"P5" and fields[3] == b"255", path
    width, height = int(fields[1]), int(fields[2])
    grey = np.frombuffer(data, dtype=np.uint8, count=width * height, offset=offset)
    return np.ascontiguousarray(np.repeat(grey.reshape(height, width)[:, :, None], 3, axis=2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=REPO / "Tests/DlibEngineTests/Fixtures/alignment")
    args = parser.parse_args()
    home = Path(os.environ.get("BIOMATCH_HOME", REPO / ".biomatch"))
    predictor_path = home / "models/original/shape_predictor_5_face_landmarks.dat"
    digest = hashlib.sha256(predictor_path.read_bytes()).hexdigest()
    if digest != PREDICTOR_SHA256:
        raise SystemExit(f"{predictor_path}: unexpected SHA-256 {digest}")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(predictor_path))
    args.output.mkdir(parents=True, exist_ok=True)

    cases = []
    inputs = [(name, 1) for name in PHOTOS] + [ENLARGED]
    for name, factor in inputs:
        img = dlib.load_rgb_image(str(home / "testdata/photos" / name))
        upsample = 1
        if factor != 1:
            img = np.ascontiguousarray(np.repeat(np.repeat(img, factor, axis=0), factor, axis=1))
            upsample = 0
        rects = detector(img, upsample)
        if len(rects) == 0:
            print(f"{name} x{factor}: no face found by the HOG detector, skipped")
            continue
        rect = largest(rects)
        shape = predictor(img, rect)
        details = dlib.get_face_chip_details(shape, 150, 0.25)
        chip = dlib.get_face_chip(img, shape, 150, 0.25)
        stem = Path(name).stem + ("" if factor == 1 else f"_x{factor}")
        chip_file = f"{stem}.chip.png"
        dlib.save_image(chip, str(args.output / chip_file))
        derived = []
        for dx, dy, scale in DERIVED:
            r = derived_rect(rect, dx, dy, scale)
            s = predictor(img, r)
            derived.append({"rect": rect_dict(r), "points": [[p.x, p.y] for p in s.parts()]})
        cases.append({
            "name": stem,
            "image": name,
            "enlargement": factor,
            "width": int(img.shape[1]),
            "height": int(img.shape[0]),
            "pixelsSHA256": hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest(),
            "channelMeans": [float(img[:, :, c].mean()) for c in range(3)],
            "detectorUpsampling": upsample,
            "detectorRect": rect_dict(rect),
            "points": [[p.x, p.y] for p in shape.parts()],
            "derived": derived,
            "chipRect": {"left": details.rect.left(), "top": details.rect.top(),
                         "right": details.rect.right(), "bottom": details.rect.bottom()},
            "chipAngle": details.angle,
            "chip": chip_file,
        })
        print(f"{name} x{factor}: rect {rect}, chip rect width {details.rect.width():.1f}")

    orl = []
    orl_root = home / "testdata/orl"
    subjects = [p for p in orl_root.iterdir() if p.is_dir() and p.name[1:].isdigit()]
    for subject in sorted(subjects, key=lambda p: int(p.name[1:])):
        for image in sorted(subject.glob("*.pgm"), key=lambda p: int(p.stem)):
            rects = detector(read_pgm(image), 1)
            entry = {"image": f"{subject.name}/{image.name}"}
            if len(rects) > 0:
                entry["detectorRect"] = rect_dict(largest(rects))
            orl.append(entry)
    found = sum(1 for e in orl if "detectorRect" in e)
    print(f"ORL: the HOG detector found a face in {found} of {len(orl)} images")

    document = {
        "dlibVersion": dlib.__version__,
        "predictorSHA256": PREDICTOR_SHA256,
        "chipSize": 150,
        "chipPadding": 0.25,
        "cases": cases,
        "orlDetectorUpsampling": 1,
        "orl": orl,
    }
    text = json.dumps(document, indent=1)
    # Keep each innermost list of numbers (a point) and each rectangle on one line.
    text = re.sub(r"\[\s+(-?[\d.]+),\s+(-?[\d.]+)\s+\]", r"[\1, \2]", text)
    text = re.sub(r"\{\s+(\"left\": [-\d.e]+),\s+(\"top\": [-\d.e]+),\s+(\"right\": [-\d.e]+),\s+(\"bottom\": [-\d.e]+)\s+\}",
                  r"{\1, \2, \3, \4}", text)
    (args.output / "alignment.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
