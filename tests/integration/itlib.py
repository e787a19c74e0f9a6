"""What the integration tests of the market rules share: child processes tracked and killed as a
group, the EAL runtime directories and telemetry segments their dadar runs leave cleaned up, a
scratch directory under the build, and the runner that prints one PASS/FAIL/SKIP line a test.

A test module imports these names, appends its EAL file prefixes to PREFIXES and its instance
names to INSTANCES as it starts dadar, and ends with `sys.exit(itlib.main("name", TESTS, argv,
need_binaries))`. Exit codes: 0 all passed, 1 a failure, 77 every selected test skipped.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback


class Skip(Exception):
    """The machine cannot run this test."""


CHILDREN = set()
PREFIXES, INSTANCES = [], []
TMP = None  # the scratch directory of the running module (main sets it)


def scratch(name, tag, build):
    """The scratch directory: $DD_IT_TMP/NAME when set (kept), else a new one under BUILD/it."""
    d = os.environ.get("DD_IT_TMP")
    if d:
        d = os.path.join(d, name)
        os.makedirs(d, exist_ok=True)
        return d
    base = os.path.join(build, "it")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"{tag}-{name}-", dir=base)


def path(name):
    return os.path.join(TMP, name)


def start(cmd, **kw):
    """A child in a process group of its own (so a kill reaches whatever it started), tracked."""
    p = subprocess.Popen([str(c) for c in cmd], start_new_session=True, text=True, errors="replace", **kw)
    CHILDREN.add(p)
    return p


def run(cmd, timeout=120):
    """Run cmd to its end (at most `timeout` s: then it is killed and the test fails)."""
    p = start(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the group this runner made for p, nothing else
        out, err = p.communicate()
        raise AssertionError(f"{os.path.basename(str(cmd[0]))} did not finish in {timeout} s: "
                             f"{' '.join(map(str, cmd))}\n{err[-1500:]}")
    finally:
        CHILDREN.discard(p)
    return subprocess.CompletedProcess([str(c) for c in cmd], p.returncode, out, err)


def cleanup():
    """Kill what is still running, remove the EAL runtime directories and telemetry segments."""
    for p in list(CHILDREN):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        CHILDREN.discard(p)
    rt = "/var/run/dpdk" if os.getuid() == 0 else os.path.join(os.environ.get("XDG_RUNTIME_DIR") or "/tmp", "dpdk")
    for prefix in PREFIXES:  # EAL leaves its runtime directory behind, even with --no-shconf
        shutil.rmtree(os.path.join(rt, prefix), ignore_errors=True)
    for name in INSTANCES:  # a killed instance leaves its telemetry segment behind
        try:
            os.unlink(f"/dev/shm/dadar-{name}")
        except OSError:
            pass
    del PREFIXES[:], INSTANCES[:]


def cpus():
    """The CPUs dadar's lcores are spread over (at most two)."""
    try:
        return sorted(os.sched_getaffinity(0))[:2]
    except AttributeError:
        return [0]


def _one_line(text):
    """A note or a message on one line: a child's stderr quoted in it must not look like our lines."""
    return " | ".join(x.strip() for x in (text or "").splitlines() if x.strip())


def main(name, tests, argv, need_binaries, tag, build):
    """Run the tests whose names contain one of argv (all without), each followed by cleanup()."""
    global TMP
    try:
        need_binaries()
    except Skip as e:
        print(f"SKIP: {name}: {e}", file=sys.stderr)
        return 77
    TMP = scratch(name.replace("_test", ""), tag, build)
    signal.signal(signal.SIGTERM, lambda s, f: (cleanup(), sys.exit(128 + s)))
    sel = [t for t in tests if not argv or any(a in t.__name__ for a in argv)]
    fails = skips = 0
    t0 = time.monotonic()
    try:
        for t in sel:
            t1 = time.monotonic()
            try:
                note = _one_line(t())
                print(f"  PASS  {t.__name__} ({time.monotonic() - t1:.1f} s){': ' + note if note else ''}", flush=True)
            except Skip as e:
                skips += 1
                print(f"  SKIP  {t.__name__}: {e}", flush=True)
            except AssertionError as e:
                fails += 1
                print(f"  FAIL  {t.__name__} ({time.monotonic() - t1:.1f} s): {_one_line(str(e))}", flush=True)
            except Exception:  # a bug in the runner is a failure too
                fails += 1
                print(f"  FAIL  {t.__name__}: {traceback.format_exc()}", flush=True)
            finally:
                cleanup()
    finally:
        cleanup()
    print(f"{name}: {len(sel) - fails - skips} passed, {fails} failed, {skips} skipped "
          f"in {time.monotonic() - t0:.1f} s")
    if fails:
        print(f"{name}: scratch files kept in {TMP}")
        return 1
    if not os.environ.get("DD_IT_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)
    return 77 if sel and skips == len(sel) else 0
