#!/usr/bin/env python3
"""Benchmarks for kairos, each against a peer measured in the same run.

  bench.py idle  KAIROS [--files 50000] [--build-dirs 5000] [--seconds 60]
      RSS (private and code), CPU time, wakeups per thread and kernel watches of the
      daemon over an idle period while it watches a generated tree (with an ignored
      build directory), beside `inotifywait -m -r` and watchexec (when installed)
      watching the same tree; then the RSS after a snapshot of the whole tree.
  bench.py queue KAIROS [--proposals 1000] [--runs 21]
      Wall time of `kairos queue --json` with N pending proposals, beside
      `git for-each-ref` listing the same N branches.
  bench.py model KAIROS [--seconds 60] [--runs 5] [--gguf PATH]
      With [llm] configured: requests made while nothing changes (a counting
      server), and resident memory beside the same daemon without [llm]. With a
      GGUF model (tests/support/serve_model.py, xllamacpp): the commit-message round
      trip (staging to proposal), beside the same request sent straight to the model
      server (recorded by a proxy in front of it, then replayed).
  bench.py replay KAIROS [--source REPO] [--commits 25] [--gguf PATH] [--pause 60]
                 [--tick-idle 30] [--idle 120] [--diff-lines 60]
      A real history (default: this repository's) replayed commit by commit into a
      watched clone, with a pause every five commits, then an idle stretch: requests,
      tokens, notices and proposals the brain produced, requests per pause and while
      idle. With --gguf the offline model answers; without, a server that is always
      silent (what is counted is then what kairos asks, not what a model says).
  bench.py snapshot KAIROS [--files 50000] [--runs 7]
      One edited file in the big tree: kairos's snapshot run, beside `git add -A &&
      git write-tree` on a copy of the repository with the same edit.
  bench.py storm KAIROS [--files 100000]
      A burst of new files in a directory that is not ignored: peak memory against
      the rest figure, snapshot runs, and whether the last snapshot is the final tree.
  bench.py reaction KAIROS [--runs 21]
      From a file write to its event in `kairos log --follow`, beside inotifywait seeing
      the same write.
  bench/noise.py KAIROS SOURCE …
      A real project's history replayed on the defaults: notifications and proposals.

Speed and memory are measured here, never asserted in tests. Build with
`cargo build --release` and pass target/release/kairos.
"""
import argparse, http.server, json, os, shutil, signal, statistics, subprocess, sys, tempfile, threading, time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


# Wake-ups are counted once the start-up work is over: the runs at start, the snapshot
# the start schedules after its 30 s quiet period, and the settling 2 s after them.
START_UP_WORK = 40


def env_for(root):
    env = dict(os.environ)
    # Tools kairos runs (rustfmt through rustup) keep finding their toolchain.
    real_home = os.environ.get("HOME", "")
    env.setdefault("RUSTUP_HOME", f"{real_home}/.rustup")
    env.setdefault("CARGO_HOME", f"{real_home}/.cargo")
    env.pop("RUST_BACKTRACE", None)
    for sub in ("home", "config", "data", "run"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    env.update(HOME=f"{root}/home", XDG_CONFIG_HOME=f"{root}/config", XDG_DATA_HOME=f"{root}/data",
               XDG_RUNTIME_DIR=f"{root}/run", KAIROS_LOG="warn", GIT_CONFIG_NOSYSTEM="1")
    return env


def git(repo, *args, env=None, stdin=None):
    subprocess.run(["git", "-C", repo, *args], check=True, env=env, input=stdin,
                   stdout=subprocess.DEVNULL)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def thread_cpu_seconds(pid):
    """CPU time per thread name, from schedstat (nanoseconds; /proc's utime and stime are
    sampled at the clock tick and cannot see a thread that runs for microseconds)."""
    total = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = "sled-io" if f.read().startswith("sled-io") else "own"
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total[name] = total.get(name, 0.0) + int(f.read().split()[0]) / 1e9
        except OSError:
            continue
    return total


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def inotify_watches(pid):
    """How many inotify watches the process holds, over all its inotify descriptors."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                count += sum(1 for line in f if line.startswith("inotify wd:"))
        except OSError:
            pass
    return count


def thread_switches(pid):
    """Voluntary context switches (wake-ups after a wait) per thread: {tid: (name, n)}."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                n = next(int(l.split()[1]) for l in f if l.startswith("voluntary_ctxt_switches"))
        except (OSError, StopIteration):
            continue
        threads[tid] = (name, n)
    return threads


def wakeups(before, after):
    """Wake-ups per thread name between two `thread_switches`, summed over threads of
    the same name, with how many threads carry it: {name: [threads, wakeups]}."""
    counted = {}
    for tid, (name, n) in after.items():
        entry = counted.setdefault(name, [0, 0])
        entry[0] += 1
        entry[1] += n - before.get(tid, (name, 0))[1]
    return counted


def start_daemon(kairos, env, cwd):
    proc = subprocess.Popen([kairos, "daemon"], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while subprocess.run([kairos, "status"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL).returncode != 0:
        if time.monotonic() - t0 > 120:
            sys.exit("the daemon did not answer within 120 s")
        time.sleep(0.02)
    return proc, time.monotonic() - t0


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def make_tree(root, files, build_dirs, quiet="1s"):
    """A committed tree of `files` files in 2,041 directories, with an ignored build
    directory of `build_dirs` directories, registered with kairos; its path."""
    repo = f"{root}/tree"
    dirs = 2040
    per_dir = files // dirs
    extra = files - per_dir * dirs
    print(f"generating {files} files in {dirs + 1} directories …", flush=True)
    for d in range(dirs):
        path = f"{repo}/d{d // 51}/s{d % 51}"
        os.makedirs(path, exist_ok=True)
        for f in range(per_dir + (1 if d < extra else 0)):
            with open(f"{path}/f{f}.txt", "w") as fh:
                fh.write(f"{d}/{f}\n")
    # Build output, ignored: a Rust target/ tree of `build_dirs` directories.
    for d in range(build_dirs):
        path = f"{repo}/target/debug/build/b{d // 100}/o{d % 100}"
        os.makedirs(path, exist_ok=True)
        with open(f"{path}/out.o", "w") as fh:
            fh.write("o\n")
    with open(f"{repo}/.gitignore", "w") as fh:
        fh.write("target/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "tree")
    os.makedirs(f"{root}/config/kairos", exist_ok=True)
    with open(f"{root}/config/kairos/config.toml", "w") as fh:
        fh.write(f'[tasks.snapshot]\nquiet = "{quiet}"\n')
    return repo


def memory_split(pid):
    """Resident memory in MiB: private (heap, stacks) and mapped from files (code)."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields


def watchexec_peer(repo):
    """watchexec watching `repo` and running nothing until a change, when installed."""
    if not shutil.which("watchexec"):
        return None
    return subprocess.Popen(["watchexec", "--postpone", "-q", "-w", repo, "--", "true"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def idle(args):
    root = tempfile.mkdtemp(prefix="kairos-bench-")
    env = env_for(root)
    repo = make_tree(root, args.files, args.build_dirs)
    subprocess.run([args.kairos, "watch", repo], env=env, check=True, stdout=subprocess.DEVNULL)

    daemon, startup = start_daemon(args.kairos, env, root)
    peers = {"inotifywait": subprocess.Popen(["inotifywait", "-m", "-r", "-q", repo],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)}
    if watchexec := watchexec_peer(repo):
        peers["watchexec"] = watchexec
    time.sleep(START_UP_WORK)
    c0 = cpu_seconds(daemon.pid)
    t0 = thread_cpu_seconds(daemon.pid)
    p0 = {name: cpu_seconds(p.pid) for name, p in peers.items()}
    w0 = thread_switches(daemon.pid)
    print(f"idle for {args.seconds} s …", flush=True)
    time.sleep(args.seconds)
    woke = wakeups(w0, thread_switches(daemon.pid))
    memory = memory_split(daemon.pid)
    result = {
        "files": args.files,
        "build_dirs": args.build_dirs,
        "seconds": args.seconds,
        "kairos_startup_s": round(startup, 3),
        "kairos_cpu_s": round(cpu_seconds(daemon.pid) - c0, 3),
        **{f"kairos_{name}_threads_cpu_s": round(t - t0.get(name, 0.0), 4)
           for name, t in thread_cpu_seconds(daemon.pid).items()},
        "kairos_rss_mib": round(memory["VmRSS"], 1),
        "kairos_private_mib": round(memory["RssAnon"], 1),
        "kairos_code_mib": round(memory["RssFile"], 1),
        "kairos_threads": sum(t for t, _ in woke.values()),
        # sled's pool (sled-io-N) is sled's own; kairos's threads are the rest.
        "kairos_wakeups_by_thread": woke,
        "kairos_own_wakeups": sum(w for name, (_, w) in woke.items() if not name.startswith("sled-io")),
        "sled_pool_wakeups": sum(w for name, (_, w) in woke.items() if name.startswith("sled-io")),
        "kairos_watches": inotify_watches(daemon.pid),
    }
    for name, peer in peers.items():
        split = memory_split(peer.pid)
        result[f"{name}_cpu_s"] = round(cpu_seconds(peer.pid) - p0[name], 3)
        result[f"{name}_rss_mib"] = round(split["VmRSS"], 1)
        result[f"{name}_private_mib"] = round(split["RssAnon"], 1)
        result[f"{name}_watches"] = inotify_watches(peer.pid)
        peer.kill()
    if "watchexec" not in peers:
        result["watchexec"] = "skipped: not installed (cargo install --locked watchexec-cli)"
    # After a snapshot of the whole tree (a file in every directory edited), and at rest again.
    for d in range(0, 2040, 1):
        with open(f"{repo}/d{d // 51}/s{d % 51}/f0.txt", "a") as fh:
            fh.write("edited\n")
    before = snapshot_runs(args.kairos, env)
    deadline = time.monotonic() + 120
    while snapshot_runs(args.kairos, env) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    # Past the tasks that follow the same edits (ask's 5 s quiet period) and the daemon's
    # settling 2 s after the last work.
    time.sleep(10)
    after = memory_split(daemon.pid)
    result["kairos_rss_after_snapshot_mib"] = round(after["VmRSS"], 1)
    result["kairos_private_after_snapshot_mib"] = round(after["RssAnon"], 1)
    result["kairos_code_after_snapshot_mib"] = round(after["RssFile"], 1)
    stop(daemon)
    shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, indent=2))


def snapshot_runs(kairos, env):
    log = subprocess.run([kairos, "log", "-n", "5000"], env=env, capture_output=True, text=True).stdout
    return sum(1 for line in log.splitlines() if "snapshot (quiet): 1 applied" in line)


def log_entries(kairos, env):
    out = subprocess.run([kairos, "log", "-n", "5000", "--json"], env=env, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def at(entry):
    from datetime import datetime
    return datetime.fromisoformat(entry["at"].replace("Z", "+00:00")[:26] + "+00:00").timestamp()


def snapshot(args):
    """One edited file in the big tree: how long kairos's snapshot run takes (from the
    event to the run's end in the log, less the quiet period), beside `git add -A && git
    write-tree` on a copy of the repository with the same edit."""
    root = tempfile.mkdtemp(prefix="kairos-bench-")
    env = env_for(root)
    quiet = 0.2
    repo = make_tree(root, args.files, 0, quiet=f"{int(quiet * 1000)}ms")
    copy = f"{root}/copy"
    shutil.copytree(repo, copy, symlinks=True)
    git(copy, "update-index", "--refresh")
    subprocess.run([args.kairos, "watch", repo], env=env, check=True, stdout=subprocess.DEVNULL)
    daemon, _ = start_daemon(args.kairos, env, root)
    time.sleep(5)  # the start-up snapshot check walks the whole tree once
    kairos_ms, git_ms = [], []
    for i in range(args.runs):
        name = f"d{i % 40}/s{i % 51}/f1.txt"
        runs = snapshot_runs(args.kairos, env)
        with open(f"{repo}/{name}", "a") as fh:
            fh.write(f"edit {i}\n")
        deadline = time.monotonic() + 60
        while snapshot_runs(args.kairos, env) == runs:
            if time.monotonic() > deadline:
                sys.exit("no snapshot")
            time.sleep(0.05)
        entries = log_entries(args.kairos, env)
        event = [e for e in entries if e["kind"] == "event" and name in e["message"]][-1]
        done = [e for e in entries if e["kind"] == "run" and "snapshot (quiet): 1 applied" in e["message"]][-1]
        kairos_ms.append((at(done) - at(event) - quiet) * 1000)
        with open(f"{copy}/{name}", "a") as fh:
            fh.write(f"edit {i}\n")
        t0 = time.perf_counter()
        subprocess.run(["sh", "-c", "git add -A && git write-tree"], cwd=copy, check=True,
                       stdout=subprocess.DEVNULL)
        git_ms.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.5)
    stop(daemon)
    shutil.rmtree(root, ignore_errors=True)
    k, g = statistics.median(kairos_ms), statistics.median(git_ms)
    print(json.dumps({
        "files": args.files, "runs": args.runs,
        "kairos_snapshot_of_one_edit_median_ms": round(k, 1),
        "git_add_all_write_tree_median_ms": round(g, 1),
        "ratio": round(k / g, 2),
    }, indent=2))


def storm(args):
    """A burst of `--files` new files in a directory that is not ignored: peak memory
    against the rest figure, snapshot runs, and whether the last snapshot holds the
    final tree exactly (as `git add -A` stages it)."""
    root = tempfile.mkdtemp(prefix="kairos-bench-")
    env = env_for(root)
    repo = small_repo(root, env)
    os.makedirs(f"{root}/config/kairos", exist_ok=True)
    with open(f"{root}/config/kairos/config.toml", "w") as fh:
        fh.write('[tasks.snapshot]\nquiet = "2s"\n')
    subprocess.run([args.kairos, "watch", repo], env=env, check=True, stdout=subprocess.DEVNULL)
    daemon, _ = start_daemon(args.kairos, env, root)
    time.sleep(5)
    rest = rss_mib(daemon.pid)
    with open(f"/proc/{daemon.pid}/clear_refs", "w") as fh:
        fh.write("5")  # the peak (VmHWM) counts from here
    runs_before = snapshot_runs(args.kairos, env)
    t0 = time.monotonic()
    for i in range(args.files):
        d = f"{repo}/burst/{i // 1000}"
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        with open(f"{d}/{i}.txt", "w") as fh:
            fh.write(f"{i}\n")
    burst_s = time.monotonic() - t0
    index = f"{root}/expected-index"
    shutil.copy(f"{repo}/.git/index", index)
    expected_env = dict(env, GIT_INDEX_FILE=index)
    subprocess.run(["git", "-C", repo, "add", "-A"], env=expected_env, check=True)
    expected = subprocess.run(["git", "-C", repo, "write-tree"], env=expected_env, check=True,
                              capture_output=True, text=True).stdout.strip()
    deadline = time.monotonic() + 600
    final = None
    while time.monotonic() < deadline:
        ref = subprocess.run(["git", "-C", repo, "rev-parse", "-q", "--verify",
                              "refs/kairos/snapshots/main^{tree}"], capture_output=True, text=True)
        final = ref.stdout.strip()
        if final == expected:
            break
        time.sleep(0.5)
    time.sleep(5)
    peak = memory_split(daemon.pid)["VmHWM"]
    runs = snapshot_runs(args.kairos, env) - runs_before
    stop(daemon)
    shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({
        "files": args.files, "burst_seconds": round(burst_s, 1),
        "rss_at_rest_mib": round(rest, 1), "peak_rss_mib": round(peak, 1),
        "peak_over_rest": round(peak / rest, 2),
        "snapshot_runs": runs,
        "final_snapshot_is_the_final_tree": final == expected,
    }, indent=2))


def timed(cmd, env, runs):
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def queue(args):
    root = tempfile.mkdtemp(prefix="kairos-bench-")
    env = env_for(root)
    repo = f"{root}/repo"
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "main")
    n = args.proposals
    stream = []
    for i in range(1, n + 2):
        msg = f"c{i}"
        stream.append(f"commit refs/heads/main\nmark :{i}\ncommitter b <b@b> {1700000000 + i} +0000\n"
                      f"data {len(msg)}\n{msg}\n" + (f"from :{i - 1}\n" if i > 1 else "") + "\n")
    for i in range(1, n + 1):
        stream.append(f"reset refs/heads/topic-{i}\nfrom :{i}\n\n")
    git(repo, "fast-import", "--quiet", stdin="".join(stream).encode())
    git(repo, "checkout", "-q", "main")
    subprocess.run([args.kairos, "watch", repo], env=env, check=True, stdout=subprocess.DEVNULL)
    daemon, _ = start_daemon(args.kairos, env, root)
    t0 = time.monotonic()
    while True:
        out = subprocess.run([args.kairos, "queue", "--json"], env=env, capture_output=True, check=True)
        if len(json.loads(out.stdout)) >= n:
            break
        if time.monotonic() - t0 > 300:
            sys.exit("proposals did not appear")
        time.sleep(0.2)
    proposing = time.monotonic() - t0
    kairos_ms = timed([args.kairos, "queue", "--json"], env, args.runs)
    peer_ms = timed(["git", "-C", repo, "for-each-ref",
                     "--format=%(refname) %(objectname) %(committerdate:iso-strict)", "refs/heads/"], env, args.runs)
    stop(daemon)
    shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({
        "proposals": n,
        "runs": args.runs,
        "first_run_to_1000_proposals_s": round(proposing, 2),
        "kairos_queue_json_median_ms": round(kairos_ms, 1),
        "git_for_each_ref_median_ms": round(peer_ms, 1),
        "ratio": round(kairos_ms / peer_ms, 1),
    }, indent=2))


class Recorder(http.server.BaseHTTPRequestHandler):
    """Counts requests and, with an upstream, forwards them (streams included) and keeps
    the last body; without one, answers every request with an empty reply."""
    upstream = None
    bodies = []
    replies = []
    refused = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Recorder.bodies.append(body)
        if Recorder.upstream is None:
            reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": "{}"}}],
                                "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            return
        request = urllib.request.Request(Recorder.upstream + self.path, data=body,
                                         headers={"content-type": "application/json"})
        try:
            upstream = urllib.request.urlopen(request, timeout=300)
        except urllib.error.HTTPError as refused:
            # The server's refusal (a prompt beyond its context, say) goes back as it was.
            Recorder.refused += 1
            upstream = refused
        with upstream:
            self.send_response(upstream.status)
            self.send_header("content-type", upstream.headers.get("content-type", "application/json"))
            self.send_header("connection", "close")
            self.end_headers()
            read = getattr(upstream, "read1", upstream.read)
            reply = b""
            while chunk := read(65536):
                reply += chunk
                self.wfile.write(chunk)
                self.wfile.flush()
            Recorder.replies.append(reply)


def serve(upstream=None):
    Recorder.upstream, Recorder.bodies, Recorder.replies = upstream, [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def small_repo(root, env):
    repo = f"{root}/repo"
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "main")
    with open(f"{repo}/README.md", "w") as fh:
        fh.write("hello\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "initial")
    git(repo, "config", "user.name", "b")
    git(repo, "config", "user.email", "b@b")
    return repo


def model_config(root, base_url, model, extra=""):
    os.makedirs(f"{root}/config/kairos", exist_ok=True)
    with open(f"{root}/config/kairos/config.toml", "w") as fh:
        fh.write(f'[llm]\nbase_url = "{base_url}"\nmodel = "{model}"\n{extra}\n'
                 '[tasks.commit-message]\nquiet = "200ms"\n\n[tasks.snapshot]\nquiet = "1s"\n')


def model(args):
    result = {"seconds": args.seconds}
    # At rest: the same daemon with and without [llm], and the requests it makes.
    for with_llm in (False, True):
        root = tempfile.mkdtemp(prefix="kairos-bench-")
        env = env_for(root)
        repo = small_repo(root, env)
        server, url = serve()
        if with_llm:
            model_config(root, f"{url}/v1", "counted")
        subprocess.run([args.kairos, "watch", repo], env=env, check=True, stdout=subprocess.DEVNULL)
        daemon, _ = start_daemon(args.kairos, env, root)
        time.sleep(5)
        before = len(Recorder.bodies)
        print(f"idle for {args.seconds} s ({'with' if with_llm else 'without'} [llm]) …", flush=True)
        time.sleep(START_UP_WORK)
        w0 = thread_switches(daemon.pid)
        time.sleep(args.seconds)
        woke = wakeups(w0, thread_switches(daemon.pid))
        key = "with_llm" if with_llm else "without_llm"
        result[f"{key}_rss_mib"] = round(rss_mib(daemon.pid), 1)
        result[f"{key}_threads"] = sum(t for t, _ in woke.values())
        result[f"{key}_own_wakeups"] = sum(w for name, (_, w) in woke.items()
                                            if not name.startswith("sled-io"))
        if with_llm:
            result["requests_while_idle"] = len(Recorder.bodies) - before
        stop(daemon)
        server.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    gguf = args.gguf or os.path.expanduser("~/.cache/kairos-test-model/SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.isfile(gguf):
        result.update(round_trip(args, gguf))
    print(json.dumps(result, indent=2))


def round_trip(args, gguf):
    model_server, upstream = start_model_server(gguf)
    proxy, url = serve(upstream)
    root = tempfile.mkdtemp(prefix="kairos-bench-")
    env = env_for(root)
    repo = small_repo(root, env)
    model_config(root, f"{url}/v1", "smollm2-135m", 'structured = "json_schema"\n')
    subprocess.run([args.kairos, "watch", repo], env=env, check=True, stdout=subprocess.DEVNULL)
    daemon, _ = start_daemon(args.kairos, env, root)
    kairos_s, direct_s, model_s = [], [], []
    for i in range(args.runs):
        with open(f"{repo}/file{i}.txt", "w") as fh:
            fh.write(f"change number {i}\n")
        seen = len(Recorder.bodies)
        # The run's own line (the model call's line says "asked" and comes first).
        runs = lambda: sum(1 for line in subprocess.run(
            [args.kairos, "log", "-n", "500"], env=env, capture_output=True, text=True).stdout.splitlines()
            if "commit-message (index quiet):" in line and ": asked " not in line)
        runs_before = runs()
        t0 = time.monotonic()
        git(repo, "add", f"file{i}.txt")
        while True:
            if len(Recorder.bodies) > seen and runs() > runs_before:
                break
            if time.monotonic() - t0 > 300:
                sys.exit("no commit-message run")
            time.sleep(0.05)
        kairos_s.append(time.monotonic() - t0)
        model_s.append(model_time(Recorder.replies[-1]) if Recorder.replies else None)
        # The peer: the very request kairos sent, straight to the model server (which
        # has the whole prompt in its cache by then: a floor, not a fair race).
        body = Recorder.bodies[-1]
        t0 = time.monotonic()
        request = urllib.request.Request(upstream + "/v1/chat/completions", data=body,
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()
        direct_s.append(time.monotonic() - t0)
    stop(daemon)
    proxy.shutdown()
    model_server.kill()
    shutil.rmtree(root, ignore_errors=True)
    k, d = statistics.median(kairos_s), statistics.median(direct_s)
    result = {"round_trip_runs": args.runs, "kairos_commit_message_round_trip_median_s": round(k, 2),
              "same_request_straight_to_the_model_median_s": round(d, 2), "round_trip_ratio": round(k / d, 2)}
    if all(m is not None for m in model_s):
        # What the model server itself spent on kairos's request (its reported timings),
        # and what is left: kairos's own part (quiet period, diff, prompt, parse, proposal).
        result["model_time_in_round_trip_median_s"] = round(statistics.median(model_s), 2)
        result["kairos_own_part_median_s"] = round(statistics.median(
            [k - m for k, m in zip(kairos_s, model_s)]), 2)
    return result


def model_time(reply):
    """The seconds llama.cpp reports for a reply (prompt read + generation), from the
    `timings` object of its last streamed chunk or its body; None without one."""
    for line in reversed(reply.decode("utf-8", "replace").splitlines()):
        line = line.removeprefix("data: ").strip()
        if '"timings"' not in line:
            continue
        try:
            t = json.loads(line)["timings"]
            return (t.get("prompt_ms", 0) + t.get("predicted_ms", 0)) / 1000
        except (ValueError, KeyError):
            continue
    return None


def start_model_server(gguf):
    """The offline model behind llama.cpp's server, as the tests run it; its URL."""
    port = free_port()
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support", "serve_model.py")
    proc = subprocess.Popen(["python3", script, gguf, str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    upstream = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(upstream + "/v1/models", timeout=1)
            return proc, upstream
        except OSError:
            time.sleep(0.1)
    sys.exit("the model server did not start")


def log_lines(kairos, env, needle, n=5000):
    out = subprocess.run([kairos, "log", "-n", str(n)], env=env, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if needle in line and ": asked " not in line]


def replay(args):
    """A real history replayed commit by commit into a watched clone: what the brain costs
    (requests, tokens) and says (notices, proposals) as a developer works, with pauses,
    and what it asks during a long idle stretch at the end."""
    source = os.path.abspath(args.source)
    commits = subprocess.run(["git", "-C", source, "rev-list", "--first-parent", "--no-merges", "--reverse",
                              f"-n{args.commits + 1}", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.split()
    base, commits = commits[0], commits[1:]
    author = subprocess.run(["git", "-C", source, "log", "-1", "--format=%an%n%ae", commits[-1]],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    root = tempfile.mkdtemp(prefix="kairos-bench-")
    env = env_for(root)
    repo = f"{root}/repo"
    subprocess.run(["git", "clone", "-q", "--no-checkout", source, repo], check=True, env=env)
    git(repo, "checkout", "-q", "-b", "replay", base, env=env)
    git(repo, "remote", "remove", "origin", env=env)
    git(repo, "config", "user.name", author[0], env=env)
    git(repo, "config", "user.email", author[1], env=env)
    model_server, upstream = (None, None)
    if args.gguf:
        model_server, upstream = start_model_server(args.gguf)
    proxy, url = serve(upstream)
    os.makedirs(f"{root}/config/kairos", exist_ok=True)
    with open(f"{root}/config/kairos/config.toml", "w") as fh:
        fh.write(f'[llm]\nbase_url = "{url}/v1"\nmodel = "smollm2-135m"\nstructured = "json_schema"\n'
                 'max_reply_tokens = 256\nmax_calls_per_hour = 1000\n'
                 # The silent server answers with one body, not a stream.
                 + ("" if args.gguf else "stream = false\n") + '\n'
                 
                 f'[tasks.review]\nmax_diff_lines = {args.diff_lines}\ncheck = []\n\n'
                 f'[tasks.tick]\nidle = "{args.tick_idle}s"\nmin_interval = "{args.pause}s"\n'
                 f'max_diff_lines = {args.diff_lines}\n')
    subprocess.run([args.kairos, "watch", repo], env=env, check=True, stdout=subprocess.DEVNULL)
    daemon, _ = start_daemon(args.kairos, env, root)
    deadline = time.monotonic() + 60
    while not log_lines(args.kairos, env, "review (start)"):
        if time.monotonic() > deadline:
            sys.exit("the review did not take the history as seen")
        time.sleep(0.2)
    t0 = time.monotonic()
    review_s = []
    pauses = []
    for i, commit in enumerate(commits, 1):
        reviews = len(log_lines(args.kairos, env, "review (git: HEAD moved)"))
        started = time.monotonic()
        git(repo, "cherry-pick", "--allow-empty", "--keep-redundant-commits", commit, env=env,
            stdin=None)
        while len(log_lines(args.kairos, env, "review (git: HEAD moved)")) <= reviews:
            if time.monotonic() - started > 600:
                sys.exit(f"no review of commit {i}")
            time.sleep(0.2)
        review_s.append(time.monotonic() - started)
        if i % 5 == 0:
            # The developer pauses: a look is due once the repository is idle.
            before = len(Recorder.bodies)
            ticks = len(log_lines(args.kairos, env, "tick (idle)"))
            pause_end = time.monotonic() + args.pause
            while time.monotonic() < pause_end or len(log_lines(args.kairos, env, "tick (idle)")) == ticks:
                if time.monotonic() > pause_end + 300:
                    break
                time.sleep(0.2)
            pauses.append(len(Recorder.bodies) - before)
    busy_s = time.monotonic() - t0
    # Then nothing: a long idle stretch.
    time.sleep(args.pause)
    before = len(Recorder.bodies)
    time.sleep(args.idle)
    idle_requests = len(Recorder.bodies) - before
    status = json.loads(subprocess.run([args.kairos, "status", "--json"], env=env, capture_output=True,
                                       text=True, check=True).stdout)
    queue_all = json.loads(subprocess.run([args.kairos, "queue", "--all", "--json"], env=env,
                                          capture_output=True, text=True, check=True).stdout)
    log = subprocess.run([args.kairos, "log", "-n", "5000"], env=env, capture_output=True, text=True).stdout
    today = status["llm"]["today"]
    result = {
        "source": source,
        "commits": len(commits),
        "model": "SmolLM2-135M-Instruct Q4_1 (llama.cpp)" if args.gguf else "scripted (always silent)",
        "requests": len(Recorder.bodies),
        "refused_by_server": Recorder.refused,
        "requests_by_task": {t: u["calls"] for t, u in today.items() if isinstance(u, dict) and "calls" in u},
        "tokens_in": sum(u["tokens"]["input"] for u in today.values() if isinstance(u, dict) and "tokens" in u),
        "tokens_out": sum(u["tokens"]["output"] for u in today.values() if isinstance(u, dict) and "tokens" in u),
        "notices": sum(1 for line in log.splitlines() if "noticed" in line and "(not proposed" in line),
        # What was told is kept too (state `told`): counted above, as notices.
        "proposals": sum(1 for p in queue_all if p["state"] != "told"),
        "failed_runs": sum(1 for line in log.splitlines() if "): failed:" in line),
        "requests_per_pause": pauses,
        "idle_seconds": args.idle,
        "requests_while_idle": idle_requests,
        "review_seconds_median": round(statistics.median(review_s), 2),
        "replay_seconds": round(busy_s, 1),
        "rss_mib": round(rss_mib(daemon.pid), 1),
    }
    stop(daemon)
    proxy.shutdown()
    if model_server:
        model_server.kill()
    shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, indent=2))


def reaction(args):
    """From a file write to its event in `kairos log --follow`, beside inotifywait seeing
    the same write (median of --runs writes, 1 s apart)."""
    import queue as queues
    root = tempfile.mkdtemp(prefix="kairos-bench-")
    env = env_for(root)
    repo = small_repo(root, env)
    os.makedirs(f"{root}/config/kairos", exist_ok=True)
    with open(f"{root}/config/kairos/config.toml", "w") as fh:
        fh.write('[tasks.snapshot]\nenabled = false\n\n[tasks.format]\nenabled = false\n')
    subprocess.run([args.kairos, "watch", repo], env=env, check=True, stdout=subprocess.DEVNULL)
    daemon, _ = start_daemon(args.kairos, env, root)

    def heard(cmd):
        lines = queues.Queue()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, bufsize=1)
        def read():
            for line in proc.stdout:
                lines.put((time.perf_counter(), line))
        threading.Thread(target=read, daemon=True).start()
        return proc, lines

    follower, kairos_lines = heard([args.kairos, "log", "--follow", "--json"])
    peer, peer_lines = heard(["inotifywait", "-m", "-q", "-e", "close_write", "--format", "%f", repo])
    watchexec, watchexec_lines = (None, None)
    if shutil.which("watchexec"):
        # It runs `echo` after its 50 ms debounce; the line says it reacted.
        watchexec, watchexec_lines = heard(["watchexec", "--postpone", "-q", "-w", repo, "--",
                                            "echo", "reacted"])
    time.sleep(2)

    def until(lines, name, t0):
        while True:
            at, line = lines.get(timeout=30)
            if name in line and at >= t0:
                return at - t0

    kairos_ms, peer_ms, watchexec_ms = [], [], []
    for i in range(args.runs):
        name = f"written-{i}.txt"
        t0 = time.perf_counter()
        with open(f"{repo}/{name}", "w") as fh:
            fh.write(f"{i}\n")
        peer_ms.append(until(peer_lines, name, t0) * 1000)
        kairos_ms.append(until(kairos_lines, name, t0) * 1000)
        if watchexec_lines:
            watchexec_ms.append(until(watchexec_lines, "reacted", t0) * 1000)
        time.sleep(1)
    for proc in (follower, peer, watchexec):
        if proc:
            proc.kill()
    stop(daemon)
    shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({
        "runs": args.runs,
        "kairos_write_to_log_follow_median_ms": round(statistics.median(kairos_ms), 1),
        "inotifywait_median_ms": round(statistics.median(peer_ms), 2),
        "watchexec_median_ms": round(statistics.median(watchexec_ms), 1) if watchexec_ms
        else "skipped: not installed (cargo install --locked watchexec-cli)",
    }, indent=2))


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("idle"); p.add_argument("kairos"); p.add_argument("--files", type=int, default=50000); p.add_argument("--build-dirs", type=int, default=5000); p.add_argument("--seconds", type=int, default=60)
    q = sub.add_parser("queue"); q.add_argument("kairos"); q.add_argument("--proposals", type=int, default=1000); q.add_argument("--runs", type=int, default=21)
    m = sub.add_parser("model"); m.add_argument("kairos"); m.add_argument("--seconds", type=int, default=60); m.add_argument("--runs", type=int, default=5); m.add_argument("--gguf")
    r = sub.add_parser("replay"); r.add_argument("kairos"); r.add_argument("--source", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    r.add_argument("--commits", type=int, default=25); r.add_argument("--gguf"); r.add_argument("--pause", type=int, default=60)
    r.add_argument("--tick-idle", type=int, default=30)
    r.add_argument("--idle", type=int, default=120); r.add_argument("--diff-lines", type=int, default=60)
    w = sub.add_parser("reaction"); w.add_argument("kairos"); w.add_argument("--runs", type=int, default=21)
    n = sub.add_parser("snapshot"); n.add_argument("kairos"); n.add_argument("--files", type=int, default=50000); n.add_argument("--runs", type=int, default=7)
    t = sub.add_parser("storm"); t.add_argument("kairos"); t.add_argument("--files", type=int, default=100000)
    args = parser.parse_args()
    args.kairos = os.path.abspath(args.kairos)
    {"idle": idle, "queue": queue, "model": model, "replay": replay, "reaction": reaction,
     "snapshot": snapshot, "storm": storm}[args.what](args)


if __name__ == "__main__":
    main()
