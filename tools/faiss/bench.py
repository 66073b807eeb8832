"""FAISS reference for `biomatch bench search`.

Reads the vectors the Swift benchmark wrote (same gallery, same probes), measures FAISS
IndexFlatIP and IndexHNSWFlat (inner product) the way the Swift side measures its indexes, and
prints one JSON line. Recall is against FAISS's own exact search on the same data.

File format: b"BMVECS01", uint32 dimension, uint64 gallery count, uint64 probe count
(little-endian), then gallery and probes as row-major float32.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import faiss


def read_vectors(path):
    with open(path, "rb") as handle:
        header = handle.read(28)
        if header[:8] != b"BMVECS01":
            sys.exit(f"{path}: not a BioMatch vector file")
        dimension, gallery_count, probe_count = struct.unpack("<IQQ", header[8:28])
        data = np.fromfile(handle, dtype="<f4", count=(gallery_count + probe_count) * dimension)
    data = data.reshape(gallery_count + probe_count, dimension)
    return np.ascontiguousarray(data[:gallery_count]), np.ascontiguousarray(data[gallery_count:])


def resident_bytes():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def latencies(index, probes, k):
    times = []
    ids = []
    for row in range(probes.shape[0]):
        start = time.perf_counter()
        _, found = index.search(probes[row : row + 1], k)
        times.append((time.perf_counter() - start) * 1000)
        ids.append(found[0])
    times.sort()

    def percentile(fraction):
        return times[min(len(times) - 1, int((len(times) - 1) * fraction + 0.5))]

    return percentile(0.5), percentile(0.99), np.array(ids)


def batch_ms_per_query(index, probes, k):
    start = time.perf_counter()
    index.search(probes, k)
    return (time.perf_counter() - start) * 1000 / probes.shape[0]


def recall(found, truth):
    hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found, truth))
    return hits / truth.size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("vectors")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--single", type=int, default=200)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef-search", default="16,24,32,48,64,96,128,192,256,384,512,768,1024")
    parser.add_argument("--target-recall", type=float, default=0.99)
    parser.add_argument("--skip-hnsw", action="store_true")
    options = parser.parse_args()

    faiss.omp_set_num_threads(options.threads)
    gallery, probes = read_vectors(options.vectors)
    dimension = gallery.shape[1]
    single = probes[: options.single]
    batch = probes[: options.batch]
    report = {"faiss_version": faiss.__version__, "threads": options.threads,
              "gallery": int(gallery.shape[0]), "simd": faiss.get_compile_options()}

    before = resident_bytes()
    start = time.perf_counter()
    cpu_start = time.process_time()
    flat = faiss.IndexFlatIP(dimension)
    flat.add(gallery)
    build = time.perf_counter() - start
    build_cpu = time.process_time() - cpu_start
    memory = resident_bytes() - before
    flat.search(single[:4], options.k)
    p50, p99, truth = latencies(flat, single, options.k)
    report["flat"] = {"build_s": build, "build_cpu_s": build_cpu, "memory_bytes": memory, "single_p50_ms": p50, "single_p99_ms": p99,
                      "batch_ms_per_query": batch_ms_per_query(flat, batch, options.k)}
    print(f"faiss flat: p50 {p50:.2f} ms", file=sys.stderr, flush=True)

    if not options.skip_hnsw:
        before = resident_bytes()
        start = time.perf_counter()
        cpu_start = time.process_time()
        hnsw = faiss.IndexHNSWFlat(dimension, options.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = options.ef_construction
        hnsw.add(gallery)
        build = time.perf_counter() - start
        # CPU seconds of all threads: less disturbed than wall time on a shared machine (OpenMP
        # workers may spin briefly while waiting, which counts here).
        build_cpu = time.process_time() - cpu_start
        memory = resident_bytes() - before
        print(f"faiss hnsw: built in {build:.1f} s", file=sys.stderr, flush=True)
        sweep = []
        chosen = None
        breadths = [int(value) for value in options.ef_search.split(",")]
        for breadth in breadths:
            hnsw.hnsw.efSearch = max(breadth, options.k)
            p50, p99, found = latencies(hnsw, single, options.k)
            point = recall(found, truth)
            sweep.append({"ef_search": breadth, "recall": point, "single_p50_ms": p50})
            print(f"faiss hnsw: efSearch {breadth}: recall {point:.4f}, p50 {p50:.3f} ms", file=sys.stderr, flush=True)
            if point >= options.target_recall or breadth == breadths[-1]:
                chosen = {"build_s": build, "build_cpu_s": build_cpu, "memory_bytes": memory, "ef_search": breadth, "recall": point,
                          "single_p50_ms": p50, "single_p99_ms": p99,
                          "batch_ms_per_query": batch_ms_per_query(hnsw, batch, options.k)}
                break
        chosen["sweep"] = sweep
        report["hnsw"] = chosen

    print(json.dumps(report))


if __name__ == "__main__":
    main()
