#!/usr/bin/python3
"""Composes the Markdown of bench/run_all.sh: a machine description and one table of every
figure with its target and pass/fail, from the key<TAB>value files of the suite's parts.

usage: bench/report.py --build BUILD_DIR [--details FILE]... TSV...
"""
import argparse
import ctypes
import ctypes.util
import datetime
import os
import platform
import re
import subprocess


def read_values(paths):
    values = {}
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                key, _, value = line.rstrip("\n").partition("\t")
                if key:
                    values[key] = float(value)
    return values


def openblas_description():
    for name in ("libopenblas.so.0", ctypes.util.find_library("openblas")):
        try:
            library = ctypes.CDLL(name)
            library.openblas_get_config.restype = ctypes.c_char_p
            config = library.openblas_get_config().decode()
            cores = library.openblas_get_num_procs()
            return f"{config} (reports {cores} processors)"
        except (OSError, AttributeError, TypeError):
            continue
    return "not found"


def machine(build):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        total_kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    compiler = "unknown"
    cache = os.path.join(build, "CMakeCache.txt")
    if os.path.exists(cache):
        with open(cache) as f:
            match = re.search(r"^CMAKE_CXX_COMPILER:\w+=(.*)$", f.read(), re.M)
        if match:
            compiler = subprocess.run([match.group(1), "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    package = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libopenblas0-pthread"], capture_output=True, text=True)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return [f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; load average at the end {load}",
            f"- CPU: {cpu}, {os.cpu_count()} cores; RAM {total_kb / 1048576:.1f} GiB; {platform.system()} {platform.release()}",
            f"- OpenBLAS {package.stdout or '?'}: {openblas_description()}",
            f"- compiler: {compiler}, build {build} (Release)"]


class Table:
    def __init__(self):
        self.rows = []

    def add(self, figure, value, unit, target="", passed=None):
        verdict = "" if passed is None else ("pass" if passed else "**FAIL**")
        self.rows.append(f"| {figure} | {value} | {unit} | {target} | {verdict} |")

    def markdown(self):
        return "\n".join(["| figure | measured | unit | target | |", "|---|---:|---|---|---|"] + self.rows)


def fmt(value, digits=3):
    return f"{value:.{digits}g}"


def build_table(v):
    t = Table()
    # 1. full batch
    for size in ("600x600", "200000x500"):
        k = f"kernels.{size}."
        if k + "gemv_ns" not in v:
            continue
        gemv = v[k + "gemv_ns"]
        t.add(f"dgemv X w, {size} (the floor)", fmt(gemv / 1e3), "µs")
        t.add(f"dgemv X^T r, {size}", fmt(v[k + "gemv_t_ns"] / 1e3), "µs")
        ratio = v[k + "loss_grad_ns"] / gemv
        t.add(f"loss_grad l2 / dgemv, {size}", f"{ratio:.2f}", "×", "≤ 1.3", ratio <= 1.3)
        if k + "loss_grad_mallocs_per_call" in v:
            t.add(f"loss_grad heap allocations per call, {size}", fmt(v[k + "loss_grad_mallocs_per_call"]), "calls",
                  "(information)")
        fastest = min(gemv, v[k + "gemv_t_ns"])
        t.add(f"loss_grad l2 / the faster of dgemv X w and X^T r, {size}", f"{v[k + 'loss_grad_ns'] / fastest:.2f}", "×",
              "(stricter view)")
        t.add(f"two-pass (2 dgemv) / dgemv, {size}", f"{v[k + 'two_pass_ns'] / gemv:.2f}", "×", "(comparison)")
        fk = k + "float."
        if fk + "loss_grad_ns" in v:
            fratio = v[fk + "loss_grad_ns"] / v[fk + "gemv_ns"]
            t.add(f"float32 loss_grad / sgemv, {size}", f"{fratio:.2f}", "×", "≤ 1.3", fratio <= 1.3)
            t.add(f"float32 two-pass (2 sgemv) / sgemv, {size}", f"{v[fk + 'two_pass_ns'] / v[fk + 'gemv_ns']:.2f}", "×",
                  "(comparison)")
            speed = v[k + "loss_grad_ns"] / v[fk + "loss_grad_ns"]
            memory_bound = size == "200000x500"
            t.add(f"float32 speed-up of loss_grad (double / float), {size}", f"{speed:.2f}", "×",
                  "≈ 2 (≥ 1.7)" if memory_bound else "(cache-resident)", speed >= 1.7 if memory_bound else None)
        if fk + "gemv_ns" in v:
            t.add(f"hardware: dgemv / sgemv, {size}", f"{gemv / v[fk + 'gemv_ns']:.2f}", "×", "(what float can give)")
    # 2. minibatch
    for key in [k for k in v if k.startswith("minibatch.") and k.endswith(".step_ns")]:
        stem = key[: -len("step_ns")]
        parts = stem.split(".")
        label = f"{parts[1]} b={parts[2][1:]}" + (" float32" if "float" in parts else "")
        if "sgd_plugin" in parts:
            t.add(f"sgd plugin run, per update (sampler, schedule, Monitor), {label}", fmt(v[key] / 1e3), "µs", "(comparison)")
            t.add(f"sgd plugin run, heap allocations per update (amortized), {label}", fmt(v[stem + "mallocs_per_step"]), "calls")
            continue
        t.add(f"minibatch step (batch_loss_grad + w -= lr g), {label}", fmt(v[key] / 1e3), "µs", "≤ 2", v[key] <= 2000)
        mallocs = v[stem + "mallocs_per_step"]
        t.add(f"heap allocations per step (malloc family; of which operator new: {fmt(v[stem + 'news_per_step'])}), {label}",
              fmt(mallocs), "calls", "0", mallocs == 0)
    # 4. vs torch
    for optimizer, label in (("gd", "full-batch GD"), ("sgd", "SGD batch 2")):
        k = f"vs_torch.{optimizer}."
        if k + "kappa_s" not in v:
            continue
        updates = int(v[k + "updates"])
        t.add(f"{label}, {updates} updates, kappa solve", fmt(v[k + "kappa_s"]), "s")
        t.add(f"{label}, {updates} updates, torch.optim.SGD (1 thread, the faster of nn.Linear and mv)", fmt(v[k + "torch_s"]), "s")
        ratio = v[k + "torch_s"] / v[k + "kappa_s"]
        t.add(f"{label}: torch time / kappa time", f"{ratio:.1f}", "×", "≥ 10", ratio >= 10)
        diff = v[k + "weight_rel_diff"]
        t.add(f"{label}: final weights, relative difference kappa vs torch", f"{diff:.1e}", "", "≤ 1e-8", diff <= 1e-8)
    # 5. threads
    base = v.get("threads.r1_t1_bind_default.wall_s")
    if base:
        for key in sorted(k for k in v if k.startswith("threads.") and k.endswith(".wall_s")):
            config = key.split(".")[1]
            ranks, threads, _, bind = config.split("_")
            capped = v.get(key.replace(".wall_s", ".capped"), 0) == 1
            asked = int(threads[1:])
            text = f"kappa study, {ranks[1:]} rank(s) × {asked} BLAS thread(s) asked (mpiexec bind {bind}): speed-up vs 1×1"
            if asked > 1:
                text += ", ran 1 thread per rank" if capped else f", ran {asked} threads per rank"
            oversubscribed = int(ranks[1:]) * asked > (os.cpu_count() or 1)
            target = "1 thread per rank" if oversubscribed else "(comparison)"
            t.add(text, f"{base / v[key]:.2f}", "×", target, capped if oversubscribed else None)
    # 6. memory
    if "memory.target_mb" in v:
        target = v["memory.target_mb"]
        for key in [k for k in v if k.endswith(".peak_rss_mb")]:
            _, reference, ranks, _ = key.split(".")
            t.add(f"kappa study peak RSS per rank, {ranks[1:]} rank(s), reference {reference}, "
                  f"{fmt(v['memory.data_mb'], 4)} MiB of data", fmt(v[key], 5), "MiB",
                  f"≤ {target:.0f}", v[key] <= target)
    return t


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", required=True)
    parser.add_argument("--details", action="append", default=[], help="a part's own output, appended verbatim")
    parser.add_argument("tsv", nargs="*")
    args = parser.parse_args()
    values = read_values(args.tsv)
    lines = ["# kappa performance, latest run (bench/run_all.sh)", "", *machine(args.build), "",
             build_table(values).markdown(), ""]
    for path in args.details:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path) as f:
                lines += [f"<details><summary>{os.path.basename(path)}</summary>", "", f.read().rstrip(), "", "</details>", ""]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
