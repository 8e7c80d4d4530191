# bench-startup.sh — per-process start-up of every tool: the median wall
# time of RUNS runs of `TOOL --version`, and of /bin/true for
# the cost of starting any process on the machine at the time; CPU time
# (user + system) beside the wall time, as it depends less on the load (default 20), in milliseconds, with
# the target of 20 ms (issue #14). BIN_DIR measures another tree's tools
# (e.g. BIN_DIR=../main/bin for the figures before the CUDA plugin).
# A benchmark: it reports, it never fails on time.
BIN_DIR=${BIN_DIR:-bin} RUNS=${RUNS:-20} /usr/bin/python3 - <<'EOF'
import os, resource, statistics, subprocess, time
bin_dir, runs = os.environ["BIN_DIR"], int(os.environ["RUNS"])
tools = sorted(t for t in os.listdir(bin_dir) if os.access(os.path.join(bin_dir, t), os.X_OK))
print(f"bench-startup: median of {runs} runs of TOOL --version, {bin_dir}/ (target <= 20 ms wall); "
      f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
worst = 0.0
for t in ["/bin/true"] + tools:
    path = t if t.startswith("/") else os.path.join(bin_dir, t)
    times, cpu = [], []
    for _ in range(runs + 1):  # the first run warms the page cache
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([path, "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    ms = 1e3 * statistics.median(times[1:])
    cpu_ms = 1e3 * statistics.median(cpu[1:])
    if path != t:
        worst = max(worst, ms)
    print(f"  {t:10s} {ms:7.1f} ms wall {cpu_ms:6.1f} ms CPU" +
          ("  (the cost of starting any process here)" if path == t else ""))
print(f"  slowest    {worst:7.1f} ms")
EOF
