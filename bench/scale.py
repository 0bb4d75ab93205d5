#!/usr/bin/env python3
"""N concurrent sleeping tasks: how long tasker takes to start them all, and what each costs
in memory (PSS of its supervisor and init), beside bubblewrap doing the same.

    bench/scale.py TASKER IMAGE.tar BUSYBOX_ROOT N [N...]
"""
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time

WORK = "/tmp/tasker-bench/scale"


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sleepers(duration):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if f.read() == f"sleep\0{duration}\0".encode():
                        found.append(int(name))
            except OSError:
                pass
    return found


def unmount_below(path):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f if line.split()[4].startswith(path + "/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], stderr=subprocess.DEVNULL)


def tasker_run(tasker, image, n):
    unmount_below(WORK)
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK + "/tasks")
    env = dict(os.environ, TASKER_ROOT=WORK + "/state")
    subprocess.run([tasker, "run", "--rm", "-q", image, "true"], env=env, cwd=WORK + "/tasks", check=True)
    duration = "601"

    def create(_):
        return subprocess.run(
            [tasker, "create", "-q", image, f"sleep {duration}"], env=env, cwd=WORK + "/tasks",
            capture_output=True, text=True)

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(create, range(n)))
    elapsed = time.monotonic() - start
    failed = [r.stderr.strip() for r in results if r.returncode != 0]
    ids = [r.stdout.strip() for r in results if r.returncode == 0]
    total = 0
    for task in ids:
        record = json.load(open(f"{WORK}/state/tasks/{task}/task.json"))
        total += pss_kib(record["supervisorPID"]) + pss_kib(record.get("initPID") or 0)
    running = len(sleepers(duration))
    ids_text = "\n".join(ids)
    subprocess.run(f"xargs -r -n 50 {tasker} rm -f > /dev/null", shell=True, input=ids_text, text=True, env=env)
    return elapsed, total / max(1, len(ids)), running, failed


def bwrap_run(root, n):
    duration = "602"
    start = time.monotonic()
    procs = [
        subprocess.Popen(
            ["bwrap", "--unshare-all", "--share-net", "--die-with-parent", "--bind", root, "/", "--proc", "/proc",
             "--dev", "/dev", "sleep", duration], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(n)]
    while len(sleepers(duration)) < n and time.monotonic() - start < 120:
        time.sleep(0.005)
    elapsed = time.monotonic() - start
    running = len(sleepers(duration))
    wrappers = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if open(f"/proc/{name}/comm").read().strip() == "bwrap":
                    wrappers.append(int(name))
            except OSError:
                pass
    total = sum(pss_kib(pid) for pid in wrappers)
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait()
    subprocess.run(["pkill", "-f", f"^sleep {duration}$"])
    return elapsed, total / n, running


def main():
    tasker, image, root = sys.argv[1:4]
    counts = [int(n) for n in sys.argv[4:]]
    print("| concurrent sleeping tasks | tool | all started after | running | memory per task (PSS) |")
    print("|---|---|---|---|---|")
    for n in counts:
        elapsed, per_task, running, failed = tasker_run(tasker, image, n)
        note = f" ({len(failed)} failed: {failed[0]})" if failed else ""
        print(f"| {n} | tasker create (jail), 32 at a time | {elapsed:.2f} s | {running} | "
              f"{per_task / 1024:.3f} MiB (supervisor + init){note} |")
        elapsed, per_task, running = bwrap_run(root, n)
        print(f"| {n} | bubblewrap, all at once | {elapsed:.2f} s | {running} | {per_task / 1024:.3f} MiB (bwrap processes) |")


if __name__ == "__main__":
    main()
