# SPDX-License-Identifier: MIT
"""A command that cannot be run (issue 20): `vmaprof record` exits like a
shell (127 nothing found, 126 found but not executable), says why in one
line, and leaves no recording directory behind -- decided before anything
is created (the command looked up as execvp does), and cleaned up when the
exec fails anyway in the child (a #! interpreter that does not exist)."""
import os
import shutil
import subprocess
import tempfile

from vptest import VMAPROF, check, eq, main

DROP = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


class Case:
    """A fresh working directory (the default output directory is made in
    the current one) with room for planted files."""

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="vmaprof-command-")
        os.chmod(self.tmp, 0o755)
        self.cwd = os.path.join(self.tmp, "cwd")
        os.mkdir(self.cwd)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def file(self, name, text, m):
        f = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(f), exist_ok=True)
        with open(f, "w") as fh:
            fh.write(text)
        os.chmod(f, m)
        return f

    def refused(self, cmd, status, cause, env=None, prefix=(), out=None):
        """record -- cmd, with the default directory and with -o: `status`,
        one line `vmaprof: cannot run 'cmd...': cause...`, nothing left."""
        o = out or os.path.join(self.tmp, "out")
        existed = os.path.isdir(o)
        for args in ([], ["-o", o]):
            # without root there is no kernel collector, and a line saying so
            args += [] if os.geteuid() == 0 else ["--no-bpf"]
            p = subprocess.run([*prefix, VMAPROF, "record", *args, "--", *cmd],
                               capture_output=True, text=True, cwd=self.cwd, env=env,
                               timeout=120)
            what = f"record {' '.join(args + ['--'] + cmd)}"
            eq(p.returncode, status, f"{what}: exit status ({p.stderr!r})")
            lines = p.stderr.splitlines()
            eq(len(lines), 1, f"{what}: one line on stderr: {p.stderr!r}")
            check(lines[0].startswith(f"vmaprof: cannot run '{cmd[0]}'") and cause in lines[0],
                  f"{what}: says {cause!r}: {lines[0]!r}")
            eq(p.stdout, "", f"{what}: nothing on stdout")
            eq(os.listdir(self.cwd), [], f"{what}: no default directory left")
            if existed:
                eq(os.listdir(o), [], f"{what}: nothing left in the existing -o directory")
            else:
                check(not os.path.exists(o), f"{what}: no -o directory left")
        return lines[0]


def t_notfound():
    with Case() as c:
        c.refused(["/nonexistent"], 127, "no such file or directory")
        c.refused([os.path.join(c.tmp, "no", "such", "dir", "cmd")], 127,
                  "no such file or directory")
        c.refused(["vmaprof-no-such-command"], 127, "command not found")
        # a bare name is looked for on PATH only, as execvp does
        d = os.path.dirname(c.file("bin/vp-tool", "#!/bin/sh\n", 0o755))
        c.refused(["vp-tool"], 127, "command not found",
                  env=dict(os.environ, PATH="/usr/bin:/bin"))
        c.refused(["vp-tool"], 127, "command not found", env=dict(os.environ, PATH=""))
        p = subprocess.run([VMAPROF, "record", "--no-bpf", "-o", os.path.join(c.tmp, "r"), "--",
                            "vp-tool"], env=dict(os.environ, PATH=f"/nonexistent:{d}"),
                           capture_output=True, text=True, cwd=c.cwd, timeout=120)
        eq(p.returncode, 0, f"found on PATH: {p.stderr}")
        c.refused([""], 127, "empty command name")


def t_notexec():
    with Case() as c:
        f = c.file("script", "echo should not run\n", 0o644)
        c.refused([f], 126, "permission denied (the file is not executable)")
        # found on PATH but not executable: named, 126; an executable one
        # later on PATH wins, as with execvp
        d1 = os.path.dirname(c.file("p1/tool", "echo no\n", 0o644))
        env = dict(os.environ, PATH=f"{d1}:/usr/bin:/bin")
        line = c.refused(["tool"], 126, "permission denied", env=env)
        check(os.path.join(d1, "tool") in line, f"names the file found: {line}")
        d2 = os.path.dirname(c.file("p2/tool", "#!/bin/sh\nexit 7\n", 0o755))
        p = subprocess.run([VMAPROF, "record", "--no-bpf", "-o", os.path.join(c.tmp, "r"), "--",
                            "tool"], cwd=c.cwd,
                           env=dict(os.environ, PATH=f"{d1}:{d2}:/usr/bin:/bin"),
                           capture_output=True, text=True, timeout=120)
        eq(p.returncode, 7, f"the executable one later on PATH ran: {p.stderr}")
        # a device is not a program
        c.refused(["/dev/null"], 126, "not a regular file")
        # an existing -o directory stays, empty
        out = os.path.join(c.tmp, "mine")
        os.mkdir(out, 0o700)
        c.refused([f], 126, "not executable", out=out)
        if os.geteuid() == 0:
            # root's file only root may run, run by nobody
            g = c.file("rootonly", "#!/bin/sh\n", 0o700)
            c.refused([g], 126, "permission denied", prefix=DROP,
                      out=os.path.join(c.tmp, "nobody-out"))


def t_directory():
    with Case() as c:
        c.refused(["/tmp"], 126, "is a directory")
        c.refused([c.tmp + "/"], 126, "is a directory")
        # a directory named like the command on PATH
        os.makedirs(os.path.join(c.tmp, "p", "sub"))
        env = dict(os.environ, PATH=os.path.join(c.tmp, "p"))
        c.refused(["sub"], 126, "is a directory", env=env)


def t_execfails():
    """The file is there and executable, so record starts it; execve fails
    in the child (its interpreter does not exist): 127, one line, the
    directory that was made for it removed, an existing one emptied."""
    with Case() as c:
        f = c.file("badinterp", "#!/nonexistent/interpreter\necho no\n", 0o755)
        c.refused([f], 127, "its #! interpreter or its ELF dynamic loader does not exist")
        out = os.path.join(c.tmp, "mine")
        os.mkdir(out, 0o700)
        c.refused([f], 127, "does not exist", out=out)
        # the same without the kernel collector and the shim
        for opt in ("--no-bpf", "--no-preload"):
            p = subprocess.run([VMAPROF, "record", opt, "--", f], cwd=c.cwd,
                               capture_output=True, text=True, timeout=120)
            eq((p.returncode, len(p.stderr.splitlines()), os.listdir(c.cwd)), (127, 1, []),
               f"{opt}: {p.stderr!r}")


def t_options():
    """An option of record -p given to record COMMAND: exit 2, one line
    saying where it belongs, nothing run, no directory left."""
    with Case() as c:
        marker = os.path.join(c.tmp, "ran")
        for opt in (["--duration", "5"], ["--duration=5"]):
            p = subprocess.run([VMAPROF, "record", *opt, "--", "touch", marker], cwd=c.cwd,
                               capture_output=True, text=True, timeout=120)
            what = f"record {' '.join(opt)} -- touch"
            eq(p.returncode, 2, f"{what}: exit status ({p.stderr!r})")
            lines = p.stderr.splitlines()
            eq(len(lines), 1, f"{what}: one line on stderr: {p.stderr!r}")
            eq(lines[0], "vmaprof: --duration is only valid with -p PID (attaching to a running "
               "process): record COMMAND records until the command's tree exits",
               f"{what}: the line")
            check(not os.path.exists(marker), f"{what}: the command ran")
            eq(os.listdir(c.cwd), [], f"{what}: no default directory left")


if __name__ == "__main__":
    main({"notfound": t_notfound, "notexec": t_notexec, "directory": t_directory,
          "execfails": t_execfails, "options": t_options})
