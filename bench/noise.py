#!/usr/bin/env python3
"""Signal over noise: a real project's history replayed as its developer made it, with
kairos on its defaults (no model), and every notification recorded.

  noise.py KAIROS SOURCE [--until REV] [--commits 25] [--think 20] [--prettier DIR] [--out FILE]

Each commit's files are written into a watched clone as edits, the developer "thinks"
for --think seconds (kairos's quiet periods pass), then commits with the original
message; every fifth commit goes through a topic branch that is pushed, merged with
--no-ff, deleted on the remote and pruned (as a merged pull request is); the rest is
pushed every five commits. Notifications go to a recording webhook (one POST per
notification, as the desktop would show it). The result: notifications per hour, and
every proposal with its title, why and diff in --out, for a person to judge.

With --prettier, that node_modules directory (prettier installed) is linked into the
clone, as the developer's `npm install` would have made it.
"""

import argparse, http.server, json, os, shutil, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import env_for, git, start_daemon, stop  # noqa: E402


class Webhook(http.server.BaseHTTPRequestHandler):
    posts = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode("utf-8", "replace")
        Webhook.posts.append({"at": time.monotonic(), "title": self.headers.get("Title", ""), "body": body})
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()


def out(cmd, env, cwd=None):
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=True).stdout


def write_commit(source, commit, repo, env):
    """Writes `commit`'s version of every file it touched into `repo` (deleting what it
    deleted), as an editor would."""
    changed = out(["git", "-C", source, "diff-tree", "--no-commit-id", "-r", "--name-status",
                   "--no-renames", f"{commit}^", commit], env).splitlines()
    for line in changed:
        status, path = line.split("\t", 1)
        target = os.path.join(repo, path)
        if status == "D":
            if os.path.lexists(target):
                os.remove(target)
            continue
        blob = subprocess.run(["git", "-C", source, "show", f"{commit}:{path}"], env=env,
                              capture_output=True, check=True).stdout
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(blob)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kairos")
    parser.add_argument("source")
    parser.add_argument("--commits", type=int, default=25)
    parser.add_argument("--until", default="HEAD", help="the last commit replayed")
    parser.add_argument("--think", type=int, default=20)
    parser.add_argument("--prettier")
    parser.add_argument("--out", default="signal-proposals.md")
    args = parser.parse_args()
    kairos, source = os.path.abspath(args.kairos), os.path.abspath(args.source)
    commits = out(["git", "-C", source, "rev-list", "--first-parent", "--no-merges", "--reverse",
                   f"-n{args.commits + 1}", args.until], None).split()
    base, commits = commits[0], commits[1:]
    root = tempfile.mkdtemp(prefix="kairos-signal-")
    env = env_for(root)
    origin, repo = f"{root}/origin.git", f"{root}/repo"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", origin], check=True, env=env)
    subprocess.run(["git", "clone", "-q", "--no-checkout", source, repo], check=True, env=env)
    git(repo, "checkout", "-q", "-B", "main", base, env=env)
    git(repo, "remote", "set-url", "origin", origin, env=env)
    git(repo, "push", "-q", "-u", "origin", "main", env=env)
    # Only the replayed line: the source's own branches and remote refs are not the
    # developer's here (a leftover `master` would pass for the default branch).
    for branch in out(["git", "-C", repo, "for-each-ref", "--format=%(refname:short)", "refs/heads"], env).split():
        if branch != "main":
            git(repo, "branch", "-q", "-D", branch, env=env)
    git(repo, "fetch", "-q", "--prune", "origin", env=env)
    git(repo, "remote", "set-head", "origin", "main", env=env)
    for key, value in (("user.name", "Replay"), ("user.email", "replay@example.org")):
        git(repo, "config", key, value, env=env)
    if args.prettier:
        os.symlink(os.path.abspath(args.prettier), f"{repo}/node_modules")
        with open(f"{repo}/.git/info/exclude", "a") as fh:
            fh.write("node_modules\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.makedirs(f"{root}/config/kairos", exist_ok=True)
    with open(f"{root}/config/kairos/config.toml", "w") as fh:
        # Defaults, but the desktop (there is none here) and a shorter format quiet
        # period, so a replayed edit is looked at before it is committed.
        fh.write('[notify]\ndesktop = false\n\n'
                 f'[notify.webhook]\nurl = "http://127.0.0.1:{server.server_address[1]}/kairos"\n\n'
                 '[tasks.format]\nquiet = "5s"\n')
    subprocess.run([kairos, "watch", repo], env=env, check=True, stdout=subprocess.DEVNULL)
    daemon, _ = start_daemon(kairos, env, root)
    t0 = time.monotonic()
    for i, commit in enumerate(commits, 1):
        message = out(["git", "-C", source, "log", "-1", "--format=%B", commit], env)
        topic = f"topic-{i}" if i % 5 == 0 else None
        if topic:
            git(repo, "checkout", "-q", "-b", topic, env=env)
        write_commit(source, commit, repo, env)
        time.sleep(args.think)
        git(repo, "add", "-A", env=env)
        git(repo, "commit", "-q", "--allow-empty", "-m", message, env=env)
        if topic:
            git(repo, "push", "-q", "-u", "origin", topic, env=env)
            git(repo, "checkout", "-q", "main", env=env)
            git(repo, "merge", "-q", "--no-ff", topic, "-m", f"Merge {topic}", env=env)
            git(repo, "push", "-q", "origin", "main", env=env)
            git(repo, "push", "-q", "origin", "--delete", topic, env=env)
            git(repo, "fetch", "-q", "--prune", "origin", env=env)
        elif i % 5 == 4:
            git(repo, "push", "-q", "origin", "main", env=env)
    time.sleep(args.think)
    elapsed = time.monotonic() - t0
    proposals = json.loads(out([kairos, "queue", "--all", "--json"], env))
    with open(args.out, "w") as fh:
        fh.write(f"# {len(proposals)} proposals from {len(commits)} commits of {source}\n\n")
        for p in proposals:
            shown = subprocess.run([kairos, "show", str(p["id"])], env=env, capture_output=True,
                                   text=True).stdout
            fh.write(f"## #{p['id']} {p['task']}: {p['title']} ({p['state']})\n\n```\n{shown[:6000]}\n```\n\n")
        fh.write("## branches at the end\n\n```\n" + out(["git", "-C", repo, "branch", "-vv"], env) + "```\n\n")
        log = out([kairos, "log", "-n", "2000"], env).splitlines()
        runs = [line for line in log if " event " not in line]
        fh.write("## the log, events left out\n\n```\n" + "\n".join(runs[-300:]) + "\n```\n\n")
        fh.write("## notifications\n\n")
        for post in Webhook.posts:
            fh.write(f"- +{post['at'] - t0:.0f} s: {post['title']}: {post['body'][:300]!r}\n")
    by_task = {}
    for p in proposals:
        by_task[p["task"]] = by_task.get(p["task"], 0) + 1
    print(json.dumps({
        "source": source,
        "commits": len(commits),
        "minutes": round(elapsed / 60, 1),
        "notifications": len(Webhook.posts),
        "notifications_per_hour": round(len(Webhook.posts) / (elapsed / 3600), 1),
        "proposals": len(proposals),
        "proposals_by_task": by_task,
        "states": {s: sum(1 for p in proposals if p["state"] == s) for s in {p["state"] for p in proposals}},
        "details": os.path.abspath(args.out),
    }, indent=2))
    stop(daemon)
    server.shutdown()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
