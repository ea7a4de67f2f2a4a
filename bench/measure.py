#!/usr/bin/env python3
"""Runs a command, its output to /dev/null, and prints its wall time in
seconds and its peak resident memory in MB: `bench/measure.py CMD ARGS...`."""
import resource
import subprocess
import sys
import time

start = time.perf_counter()
result = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
elapsed = time.perf_counter() - start
if result.returncode != 0:
    sys.stderr.write(result.stderr.decode(errors="replace"))
    sys.exit(result.returncode)
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{elapsed:.3f} {peak_mb:.0f}")
