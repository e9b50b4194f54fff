"""Nothing a candidate reads outside the project reaches a written test, a report, the output or a pull request.

A candidate test is model-written and may be steered by a prompt injection in any file the context reads. The
corpus below reads secrets by every route we could think of (Python's file APIs, other programs, ``/proc``,
symbolic links placed in the copy or committed in the project, a hard link, the environment, folder listings,
the host name, ctypes) and hands each value to the oracle (``assert <read> == None``: the oracle would write
the value it observes into the kept test), some of them encoded (base64, reversed, hex, ROT13, character
codes) so that a scan for the plain value would miss them.

Each decoy is a random value made for the run; the checks look for it, and for each encoding of it, in
everything testbot produced: the JSON report and the rest of its output, every file in the project after the
run (the written tests), and every request ``testbot pr`` sent to the GitHub emulator, the job summary
included. The same corpus runs with the kernel's read rules off (``TESTBOT_SANDBOX_OFF=landlock``): the guard
alone must then refuse Python's reads, and the oracle must not record what another program printed.
"""

from __future__ import annotations

import base64
import codecs
import json
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GIT, fenced, make_project, run_cli
from gh_emulator import GitHubEmulator, PullRequest, pull_event, pull_files
from testbot import sandbox, secrets_scan

ALNUM = string.ascii_letters + string.digits


def _random(n: int) -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(n))


def _private_key() -> str:
    body = base64.b64encode(secrets.token_bytes(180)).decode()
    lines = [body[i : i + 70] for i in range(0, len(body), 70)]
    return "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END OPENSSH PRIVATE KEY-----\n"


def encodings(value: str) -> list[str]:
    """The forms a leak may take: the value, base64, reversed, hex, ROT13, character codes (of a 16-character
    stretch: enough to be unmistakable, short enough to survive a repr cut)."""
    part = value[:16]
    raw = part.encode()
    return [
        part,
        base64.b64encode(raw).decode()[:16],
        part[::-1],
        raw.hex(),
        codecs.encode(part, "rot13"),
        ", ".join(str(ord(c)) for c in part[:8]),
    ]


# Each case: the code that reads (a Python expression, after the setup lines), and the oracle is asked for it.
READS = {
    "open": "open({token!r}).read()",
    "pathlib": "pathlib.Path({token!r}).read_text()",
    "os_read": "os.read(os.open({token!r}, os.O_RDONLY), 4096).decode()",
    "fileio": "io.FileIO({token!r}).read().decode()",
    "mmap": "mmap.mmap(os.open({token!r}, os.O_RDONLY), 0, prot=mmap.PROT_READ)[:].decode()",
    "copy_then_read": "(shutil.copy({token!r}, 'copied.txt'), open('copied.txt').read())[1]",
    "cat": "subprocess.run(['cat', {token!r}], capture_output=True).stdout.decode()",
    "shell": "subprocess.run('cat ' + {token!r} + ' 2>&1', shell=True, capture_output=True, text=True).stdout",
    "popen": "os.popen('cat ' + {token!r}).read()",
    "python_child": "subprocess.run([sys.executable, '-I', '-S', '-c', 'print(open(%r).read())' % {token!r}], "
    "capture_output=True, text=True).stdout",
    "proc_root": "open('/proc/self/root' + {token!r}).read()",
    "proc_root_of_init": "open('/proc/1/root' + {token!r}).read()",
    "symlink_made": "(os.symlink({token!r}, 'link.txt'), open('link.txt').read())[1]",
    "symlink_committed": "open('data/creds').read()",
    "hard_link": "(os.link({token!r}, 'hard.txt'), open('hard.txt').read())[1]",
    "git_config": "open({git_config!r}).read()",
    "git_config_via_git": "subprocess.run(['git', '-C', {project!r}, 'config', '--list'], capture_output=True, "
    "text=True).stdout",
    "ssh_key": "open({home!r} + '/.ssh/id_ed25519').read()",
    "netrc": "open({home!r} + '/.netrc').read()",
    "home_listing": "sorted(os.listdir({home!r}))",
    "home_scandir": "sorted(e.name for e in os.scandir({home!r}))",
    "home_glob": "sorted(glob.glob({home!r} + '/*'))",
    "home_ls": "subprocess.run(['ls', '-a', {home!r}], capture_output=True, text=True).stdout",
    "outside_listing": "sorted(os.listdir({outside!r}))",
    "environ": "os.environ.get('GITHUB_TOKEN')",
    "environ_all": "dict(os.environ)",
    "proc_environ": "open('/proc/self/environ', 'rb').read().decode()",
    "testbot_environ": "open('/proc/%d/environ' % os.getppid(), 'rb').read().decode()",
    "cmdlines": "[open(p, 'rb').read() for p in glob.glob('/proc/[0-9]*/cmdline')]",
    "hostname": "socket.gethostname()",
    "uname": "platform.node()",
    "etc_hostname": "open('/etc/hostname').read()",
    "ctypes": "_cread({token!r})",
    "base64": "base64.b64encode(open({token!r}, 'rb').read()).decode()",
    "reversed": "open({token!r}).read()[::-1]",
    "hex": "open({token!r}, 'rb').read().hex()",
    "rot13": "codecs.encode(open({token!r}).read(), 'rot13')",
    "codes": "[ord(c) for c in open({token!r}).read()]",
    "reversed_via_cat": "subprocess.run(['cat', {token!r}], capture_output=True, text=True).stdout[::-1]",
    "codes_via_cat": "[ord(c) for c in subprocess.run(['cat', {token!r}], capture_output=True, text=True).stdout]",
}

CANDIDATE = """
import base64, codecs, ctypes, glob, io, mmap, os, pathlib, platform, shutil, socket, subprocess, sys
from pkg.m import classify


def _cread(path):  # libc's own fopen and fread: around Python's audit hook
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fread.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
    f = libc.fopen(path.encode(), b"r")
    if not f:
        return "unreadable"
    buf = ctypes.create_string_buffer(200)
    libc.fread(buf, 1, 199, f)
    return buf.value.decode()


def test_{name}():
    assert classify(11) == "positive"
    assert {read} == None
"""
GOOD = fenced('from pkg.m import classify\n\n\ndef test_zero():\n    assert classify(0) == "zero"\n')


class Decoys:
    """Secrets planted around a project: outside it, in its .git, in a home, in the environment."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.home = base / "home"
        self.outside = base / "outside"
        (self.home / ".ssh").mkdir(parents=True)
        self.outside.mkdir()
        self.token = "ghp_" + _random(36)
        self.header = base64.b64encode(f"x-access-token:ghs_{_random(36)}".encode()).decode()
        self.key = _private_key()
        self.netrc = _random(40)
        self.env_token = "ghp_" + _random(36)
        self.listing = "decoy" + _random(24)
        self.outside_name = "decoy" + _random(24)
        (self.outside / "token.txt").write_text(self.token + "\n")
        (self.outside / self.outside_name).write_text("x")
        (self.home / ".ssh" / "id_ed25519").write_text(self.key)
        (self.home / ".netrc").write_text(f"machine github.com login x password {self.netrc}\n")
        (self.home / self.listing).write_text("x")

    def project(self):
        project = make_project(self.base / "proj", git=False)
        os.symlink(self.outside / "token.txt", project.root / "data-link")
        (project.root / "data").mkdir()
        os.symlink(self.outside / "token.txt", project.root / "data" / "creds")
        project.git_init()
        # what actions/checkout leaves in .git/config by default
        subprocess.run(
            [*GIT, "config", "http.https://github.com/.extraheader", f"AUTHORIZATION: basic {self.header}"],
            cwd=project.root,
            check=True,
        )
        return project

    def values(self) -> dict[str, str]:
        key_body = self.key.splitlines()[1]
        return {
            "token": self.token[4:],
            "header": self.header,
            "key": key_body,
            "netrc": self.netrc,
            "env_token": self.env_token[4:],
            "listing": self.listing[5:],
            "outside_name": self.outside_name[5:],
        }

    def fields(self, project) -> dict[str, str]:
        return {
            "token": str(self.outside / "token.txt"),
            "git_config": str(project.root / ".git" / "config"),
            "project": str(project.root),
            "home": str(self.home),
            "outside": str(self.outside),
        }

    def env(self, off: str = "") -> dict[str, str]:
        env = {"HOME": str(self.home), "GITHUB_TOKEN": self.env_token, "TESTBOT_SANDBOX_OFF": off}
        return env


def _completions(fields: dict[str, str], names=READS) -> list[str]:
    return [fenced(CANDIDATE.format(name=name, read=READS[name].format(**fields))) for name in names] + [GOOD]


def _leaks(decoys: Decoys, texts: dict[str, str]) -> list[str]:
    found = []
    for what, value in decoys.values().items():
        for form in encodings(value):
            for where, text in texts.items():
                if form in text:
                    found.append(f"{what} ({form!r}) in {where}")
    return found


def _files(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and ".git" not in path.relative_to(root).parts:
            out[f"file {path.relative_to(root)}"] = path.read_text(encoding="utf-8", errors="replace")
    return out


def _generate(base: Path, off: str, monkeypatch, names=READS) -> tuple[Decoys, dict[str, str], dict]:
    decoys = Decoys(base)
    project = decoys.project()
    for key, value in decoys.env(off).items():
        monkeypatch.setenv(key, value)
    completions = _completions(decoys.fields(project), names)
    model = project.fake_model({"*": completions})
    run = run_cli(
        [
            "generate",
            "pkg/m.py::classify",
            "--model",
            model,
            "--json",
            "--samples",
            str(len(completions)),
            "--runs",
            "2",
            "--repair-rounds",
            "0",
            "--timeout",
            "20",
        ],
        project.root,
    )
    assert run.code in (0, 1), run.err
    texts = {"stdout": run.out, "stderr": run.err, **_files(project.root)}
    return decoys, texts, json.loads(run.out)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        return _generate(tmp_path_factory.mktemp("leaks"), "", mp)


def test_the_decoys_are_readable_outside_the_sandbox(tmp_path):
    """The corpus means something: testbot's own user can read every decoy."""
    decoys = Decoys(tmp_path)
    assert decoys.token in (decoys.outside / "token.txt").read_text()
    project = decoys.project()
    assert decoys.header in (project.root / ".git" / "config").read_text()
    assert decoys.token in (project.root / "data" / "creds").read_text()


def test_no_secret_leaves_in_any_written_test_report_or_output(corpus):
    decoys, texts, report = corpus
    assert _leaks(decoys, texts) == []
    (target,) = report["targets"]
    names = {c["name"]: c for c in target["candidates"]}
    assert names["test_zero"]["kept"] is True  # the run itself worked: the good test was kept
    written = "\n".join(v for k, v in texts.items() if k.startswith("file tests/"))
    assert "def test_zero" in written


def test_the_reads_were_refused_or_saw_nothing(corpus):
    """No candidate that read outside the project was kept, whatever its outcome."""
    _, _, report = corpus
    (target,) = report["targets"]
    readers = {c["name"]: c for c in target["candidates"] if c["name"] != "test_zero"}
    assert len(readers) >= len(READS) - 2
    kept = {name for name, c in readers.items() if c["kept"]}
    # (a read of the sandbox's own view may pass and be kept: the host name is the sandbox's, the environment is
    # the scrubbed one; neither holds a decoy, as the test above shows)
    assert kept <= {
        "test_hostname",
        "test_uname",
        "test_environ",
        "test_environ_all",
        "test_proc_environ",
        "test_cmdlines",
        "test_home_listing",
        "test_home_scandir",
        "test_home_glob",
        "test_home_ls",
    }
    refused = [c for c in readers.values() if c["outcome"] == "read_outside"]
    assert len(refused) >= 15, [(c["name"], c["outcome"]) for c in readers.values()]


# (the routes around Python, and a few through it)
AROUND = [
    "cat",
    "shell",
    "popen",
    "python_child",
    "home_ls",
    "git_config_via_git",
    "reversed_via_cat",
    "codes_via_cat",
    "ctypes",
    "open",
    "hard_link",
    "symlink_made",
    "proc_root",
    "codes",
]


def test_without_landlock_the_mount_view_hides_what_programs_would_read(tmp_path, monkeypatch):
    """Without Landlock (an old kernel) but with namespaces: the run's mount namespace shows empty folders where
    homes, temporary files and the project are, so a program finds nothing to read either."""
    if not sandbox._wrapper() or "--mount" not in sandbox._wrapper():
        pytest.skip("no mount namespace here")
    decoys, texts, report = _generate(tmp_path, "landlock", monkeypatch, AROUND)
    assert "landlock-read" not in report["isolation"] and "mount-view" in report["isolation"]
    assert _leaks(decoys, texts) == []
    (target,) = report["targets"]
    cat = next(c for c in target["candidates"] if c["name"] == "test_cat")
    assert "No such file or directory" in cat["detail"] or "refused by the sandbox" in cat["detail"], cat["detail"]


def test_the_guard_alone_keeps_python_reads_and_the_oracle_ignores_other_programs(tmp_path, monkeypatch):
    """Neither Landlock nor the mount view: the guard refuses Python's reads, and what a program the test
    started printed (it could read the decoys) is never recorded as an expected value."""
    decoys, texts, report = _generate(tmp_path, "landlock,view", monkeypatch, AROUND)
    assert "landlock-read" not in report["isolation"] and "mount-view" not in report["isolation"]
    assert "guard-read" in report["isolation"]
    assert _leaks(decoys, texts) == []


def test_a_pull_request_carries_no_secret(tmp_path, monkeypatch):
    """``testbot pr`` on a pull request whose candidates read the decoys: no request to GitHub, no job summary
    and no output holds one."""
    decoys = Decoys(tmp_path)
    project = make_project(tmp_path / "proj", git=False)
    project.git_init()
    subprocess.run(
        [*GIT, "config", "http.https://github.com/.extraheader", f"AUTHORIZATION: basic {decoys.header}"],
        cwd=project.root,
        check=True,
    )
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project.root, capture_output=True, text=True).stdout.strip()
    subprocess.run([*GIT, "checkout", "-q", "-b", "feature"], cwd=project.root, check=True)
    project.write(
        "pkg/m.py",
        project.read("pkg/m.py").replace(
            '    return "positive"', '    if n > 100:\n        return "big"\n    return "positive"'
        ),
    )
    subprocess.run([*GIT, "commit", "-q", "-am", "big"], cwd=project.root, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project.root, capture_output=True, text=True).stdout.strip()
    fields = decoys.fields(project)
    picked = ["open", "cat", "git_config", "base64", "reversed_via_cat", "environ", "ssh_key", "home_listing"]
    completions = [fenced(CANDIDATE.format(name=n, read=READS[n].format(**fields))) for n in picked] + [GOOD]
    with GitHubEmulator() as gh:
        event = tmp_path / "event.json"
        event.write_text(json.dumps(pull_event("octo/proj", 7, base, head)), encoding="utf-8")
        gh.add_pull(PullRequest(7, base, head))
        gh.pulls[7].files = pull_files(project.root, base, head)
        gh.trees[head] = subprocess.run(
            ["git", "rev-parse", f"{head}^{{tree}}"], cwd=project.root, capture_output=True, text=True
        ).stdout.strip()
        summary = tmp_path / "summary.md"
        for key, value in {
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": "octo/proj",
            "GITHUB_API_URL": gh.url,
            "GITHUB_TOKEN": decoys.env_token,
            "GITHUB_STEP_SUMMARY": str(summary),
            "TESTBOT_GITHUB_PAUSE": "0",
            "TESTBOT_GITHUB_BACKOFF": "0",
            "TESTBOT_RUNS": "2",
            "TESTBOT_REPAIR_ROUNDS": "0",
            "HOME": str(decoys.home),
        }.items():
            monkeypatch.setenv(key, value)
        model = project.fake_model({"*": completions})
        run = run_cli(["pr", "--mode", "suggest", "--model", model, "--samples", str(len(completions))], project.root)
        payloads = "\n".join(json.dumps(r.body) for r in gh.writes())
    assert run.code == 0, run.err
    assert "test_zero" in payloads or "test_big" in payloads or "classify" in payloads  # something was published
    texts = {"stdout": run.out, "stderr": run.err, "requests": payloads, "summary": summary.read_text()}
    assert _leaks(decoys, texts) == []


# -- the scan: the second line, whatever the sandbox let through


def test_the_scan_finds_credentials_in_every_usual_form():
    token = "ghp_" + _random(36)
    text = f"""
def test_x():
    assert read() == {token!r}
    assert key() == {_private_key()!r}
    assert aws() == 'AKIA{_random(16).upper()}'
    assert enc() == {base64.b64encode(token.encode()).decode()!r}
    assert rev() == {token[::-1]!r}
    assert hexed() == {token.encode().hex()!r}
"""
    kinds = {h.kind for h in secrets_scan.find(text)}
    assert {"GitHub Token", "Private Key", "AWS Access Key"} <= kinds
    lines = {h.line for h in secrets_scan.find(text)}
    assert lines >= {3, 4, 5, 6, 7, 8}


def test_a_token_is_found_backwards_in_hex_and_in_base64_however_plain_it_looks():
    """A token of few distinct characters is under every entropy limit in any encoding: its format, looked for
    in the reversed line and in what a hex or base64 word decodes to, still finds it."""
    token = "ghp_" + "a" * 18 + "b" * 18
    text = f"""
def test_x():
    assert rev() == {token[::-1]!r}
    assert hexed() == {token.encode().hex()!r}
    assert enc() == {base64.b64encode(token.encode()).decode()!r}
"""
    hits = secrets_scan.find(text)
    assert {(h.line, h.kind) for h in hits} == {(3, "GitHub Token"), (4, "GitHub Token"), (5, "GitHub Token")}
    assert secrets_scan.redact(text).count("[redacted: GitHub Token]") == 3


def test_the_scan_leaves_ordinary_tests_alone():
    text = """
def test_titleize_capitalizes_each_word():
    assert titleize("x-men: the last stand") == "X Men: The Last Stand"
    assert roman_encode(3999) == "MMMCMXCIX"
    assert slugify("Hello World, this is a fairly long sentence") == "hello-world-this-is-a-fairly-long-sentence"
    assert parse("2020-01-31T10:20:30+01:00") == datetime.datetime(2020, 1, 31, 10, 20, 30)
    assert str(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert ip("8.8.8.8").is_global
"""
    assert secrets_scan.find(text) == []


def test_a_value_the_project_holds_is_not_a_leak(tmp_path):
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "h.py").write_text(f"ABC_SHA256 = {digest!r}\n")
    (tmp_path / ".env").write_text("TOKEN='ghp_" + _random(36) + "'\n")  # not a Python file: never read
    known = secrets_scan.project_strings(tmp_path)
    line = f"    assert checksum(DATA) == {digest!r}"
    assert secrets_scan.find(line) and not secrets_scan.find(line, known)


def test_redaction_names_the_kind_and_keeps_commit_ids():
    token = "ghp_" + _random(36)
    sha = secrets.token_hex(20)
    out = secrets_scan.redact(f'{{"detail": "found {token}", "head": "{sha}"}}')
    assert token not in out and "[redacted: " in out and sha in out


def test_a_kept_test_with_a_credential_is_dropped_and_said(project):
    """The second line on its own: a candidate whose expected value is a credential, with nothing read (the
    value is in the test itself), passes, adds coverage, and is still not written."""
    token = "ghp_" + _random(36)
    leaky = fenced(
        f'from pkg.m import classify\n\n\ndef test_leaky():\n    assert classify(-1) == "negative"\n'
        f'    assert "{token}"\n'
    )
    model = project.fake_model({"*": [leaky, GOOD]})
    run = run_cli(
        ["generate", "pkg/m.py", "--model", model, "--samples", "2", "--runs", "1", "--repair-rounds", "0"],
        project.root,
    )
    assert run.code == 1, run.err
    assert "test_leaky: dropped, it carries what looks like a credential" in run.err and "GitHub Token" in run.err
    written = (project.root / "tests" / "test_m.py").read_text()
    assert token not in written and "def test_zero" in written
    assert token not in run.out


def test_each_run_sees_a_host_name_and_process_ids_of_its_own(tmp_path):
    """Not the machine's host name, and neither it nor the process id repeats between runs (a test pinning one
    fails its re-run); where the namespaces are missing, the probe must not claim them."""
    support, scratch = tmp_path / "support", tmp_path / "scratch"
    sandbox.install_guard(support)
    scratch.mkdir()
    code = "import os, socket; print(socket.gethostname(), os.getpid())"
    seen = [
        sandbox.run_sandboxed(
            [sys.executable, "-c", code], cwd=scratch, scratch=scratch, support=support
        ).proc.stdout.split()
        for _ in range(2)
    ]
    iso = sandbox.isolation(sys.executable)
    if "own host name" in iso.view:
        assert all(host.startswith("sandbox-") and host != os.uname()[1] for host, _ in seen), seen
        assert seen[0][0] != seen[1][0]
    else:
        assert seen[0][0] == os.uname()[1]
    if "pidns" in iso.tokens() and "--pid" in " ".join(sandbox._wrapper()):
        assert seen[0][1] != seen[1][1], seen
