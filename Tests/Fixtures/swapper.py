#!/usr/bin/env python3
"""A hostile owner of the download path, for the jail tests.

    swapper.py PARENT NAME HOST STOP_FILE

PARENT/NAME is the download path tasker creates tasks in; HOST is a directory of the host's that
must never be touched. Until STOP_FILE exists (or 600 s pass), it flips, with
renameat2(RENAME_EXCHANGE), PARENT/NAME and every task directory in it between the directory
and a symlink to HOST, at random moments. At the end it puts every real directory back under its
own name and removes its symlinks. It also stops when the process that started it is gone.
"""
import ctypes
import os
import random
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_EXCHANGE = 2


def exchange(a: str, b: str) -> bool:
    return libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE) == 0


def is_task_name(name: str) -> bool:
    return len(name) == 12 and all(c in "0123456789abcdef" for c in name)


def main() -> int:
    parent, name, host, stop = sys.argv[1:5]
    download = os.path.join(parent, name)
    decoy = os.path.join(parent, ".decoy")
    os.symlink(host, decoy)
    flipped: set[str] = set()  # task names that are now symlinks (their directory sits at .x-NAME)
    deadline = time.monotonic() + 600
    next_flip = time.monotonic()
    parent_pid = os.getppid()
    # Until told to stop, or until the test that started it is gone.
    while not os.path.exists(stop) and time.monotonic() < deadline and os.getppid() == parent_pid:
        # The download path itself: every 10 ms or so a symlink to HOST for about a millisecond.
        if time.monotonic() >= next_flip:
            exchange(download, decoy)
            time.sleep(random.random() * 0.002)
            exchange(download, decoy)
            next_flip = time.monotonic() + random.random() * 0.02
        real = download if not os.path.islink(download) else decoy
        try:
            entries = os.listdir(real)
        except OSError:
            continue
        for entry in entries:
            if not is_task_name(entry):
                continue
            path = os.path.join(real, entry)
            hidden = os.path.join(real, ".x-" + entry)
            if not os.path.lexists(hidden):
                try:
                    os.symlink(host, hidden)
                except OSError:
                    continue
            if exchange(path, hidden):
                if entry in flipped:
                    flipped.discard(entry)
                else:
                    flipped.add(entry)
    # Tidy up: the download path is a directory again, task directories sit under their names.
    if os.path.islink(download):
        exchange(download, decoy)
    for entry in list(flipped):
        exchange(os.path.join(download, entry), os.path.join(download, ".x-" + entry))
    for entry in os.listdir(download):
        path = os.path.join(download, entry)
        if entry.startswith(".x-") and os.path.islink(path):
            os.unlink(path)
    os.unlink(decoy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
