#!/usr/bin/env python3
"""Benchmarks for kairos, each against a peer measured in the same run.

  bench.py idle  KAIROS [--files 50000] [--build-dirs 5000] [--seconds 60]
      RSS, CPU time and kernel watches of the daemon over an idle period while it
      watches a generated tree (with an ignored build directory), beside
      `inotifywait -m -r` watching the same tree.
  bench.py queue KAIROS [--proposals 1000] [--runs 21]
      Wall time of `kairos queue --json` with N pending proposals, beside
      `git for-each-ref` listing the same N branches.

Speed and memory are measured here, never asserted in tests. Build with
`cargo build --release` and pass target/release/kairos.
"""
import argparse, json, os, shutil, signal, statistics, subprocess, sys, tempfile, time

TICK = os.sysconf("SC_CLK_TCK")


def env_for(root):
    env = dict(os.environ)
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


def idle(args):
    root = tempfile.mkdtemp(prefix="kairos-bench-")
    env = env_for(root)
    repo = f"{root}/tree"
    dirs = 2040
    per_dir = args.files // dirs
    extra = args.files - per_dir * dirs
    print(f"generating {args.files} files in {dirs + 1} directories …", flush=True)
    for d in range(dirs):
        path = f"{repo}/d{d // 51}/s{d % 51}"
        os.makedirs(path, exist_ok=True)
        for f in range(per_dir + (1 if d < extra else 0)):
            with open(f"{path}/f{f}.txt", "w") as fh:
                fh.write(f"{d}/{f}\n")
    # Build output, ignored: a Rust target/ tree of `--build-dirs` directories.
    for d in range(args.build_dirs):
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
        fh.write('[tasks.snapshot]\nquiet = "1s"\n')
    subprocess.run([args.kairos, "watch", repo], env=env, check=True, stdout=subprocess.DEVNULL)

    daemon, startup = start_daemon(args.kairos, env, root)
    peer = subprocess.Popen(["inotifywait", "-m", "-r", "-q", repo],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(10)  # let the start-up runs (prune-branches, the first snapshot check) finish
    c0, p0 = cpu_seconds(daemon.pid), cpu_seconds(peer.pid)
    print(f"idle for {args.seconds} s …", flush=True)
    time.sleep(args.seconds)
    result = {
        "files": args.files,
        "build_dirs": args.build_dirs,
        "seconds": args.seconds,
        "kairos_startup_s": round(startup, 3),
        "kairos_cpu_s": round(cpu_seconds(daemon.pid) - c0, 3),
        "kairos_rss_mib": round(rss_mib(daemon.pid), 1),
        "inotifywait_cpu_s": round(cpu_seconds(peer.pid) - p0, 3),
        "inotifywait_rss_mib": round(rss_mib(peer.pid), 1),
        "kairos_watches": inotify_watches(daemon.pid),
        "inotifywait_watches": inotify_watches(peer.pid),
    }
    peer.kill()
    stop(daemon)
    shutil.rmtree(root, ignore_errors=True)
    result["rss_ratio"] = round(result["kairos_rss_mib"] / max(result["inotifywait_rss_mib"], 0.1), 1)
    print(json.dumps(result, indent=2))


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
    peer_ms = timed(["git", "-C", repo, "for-each-ref", "--format=%(refname) %(objectname) %(subject)", "refs/heads/"], env, args.runs)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("idle"); p.add_argument("kairos"); p.add_argument("--files", type=int, default=50000); p.add_argument("--build-dirs", type=int, default=5000); p.add_argument("--seconds", type=int, default=60)
    q = sub.add_parser("queue"); q.add_argument("kairos"); q.add_argument("--proposals", type=int, default=1000); q.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    args.kairos = os.path.abspath(args.kairos)
    {"idle": idle, "queue": queue}[args.what](args)


if __name__ == "__main__":
    main()
