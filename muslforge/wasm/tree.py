"""The process tree as guests see it: pids, parents, process groups, sessions, and kill() between them.

Identity. The first guest (the embedder the user started) is pid 1 with parent 0, leader of process
group 1 and session 1, like the first process of a PID namespace. A child embedder's guest is known by
its embedder's host pid, to its parent (what posix_spawn and waitpid return) and to itself (getpid);
its parent is 1 when that is the first guest, else the parent's host pid.

Process groups and sessions are the host's, as far as the host can keep them to the tree. A child
starts in its parent's group. A guest that makes a group (setpgid(0, 0), POSIX_SPAWN_SETPGROUP) or a
session (setsid, POSIX_SPAWN_SETSID) gets a new host group or session of its own: it holds only that
process and the processes it starts, so its id is a host pgid the tree owns. The first guest's group
and session (1) are the host's group and session the user started the embedder in (`Tree.host_group`,
`Tree.host_session`), which processes outside the sandbox share (the shell's job, a test runner).

kill(pid > 0) reaches the caller, its parent and its children; any other pid is ESRCH. kill(-pgid) and
kill(0) reach a group: a group the tree made through the host's killpg (every member, grandchildren
too), group 1 as the tree members the caller knows that are in it (itself, its parent, its children),
never a process outside the sandbox. kill(-1) reaches the caller's parent and children. A signal to
another process is a host signal to its embedder, which posts it to its guest (limits.py, signals.py)
or applies the default action; a signal to the caller's own group reaches the caller that way too,
asynchronously, as another process's signal does (si_code SI_USER, si_pid 0: the host does not tell).
"""

from __future__ import annotations

import errno
import os

from .errors import Errno

ROOT_PID = 1


class Tree:
    """Where one guest stands in the tree (module doc)."""

    __slots__ = ("pid", "ppid", "parent_host", "host_group", "host_session", "replaces")

    def __init__(self, *, ppid: int = 0, host_group: int | None = None, host_session: int | None = None,
                 pid: int | None = None, parent_host: int | None = None):
        child = ppid != 0
        self.replaces = pid is not None        # an execve's new program: the caller's pid and parent
        self.pid = pid if pid is not None else os.getpid() if child else ROOT_PID
        self.ppid = ppid
        self.parent_host = parent_host if self.replaces else os.getppid() if child else None
        self.host_group = os.getpgid(0) if host_group is None else host_group
        self.host_session = os.getsid(0) if host_session is None else host_session

    @property
    def is_root(self) -> bool:
        return self.ppid == 0

    def spec(self, *, replace: bool = False) -> str:
        """What a child embedder is told (--tree): its parent's guest pid, the first guest's host group
        and session; for the program an execve replaces this one with, also this pid and parent."""
        if replace:
            return (f"{self.ppid},{self.host_group},{self.host_session},{self.pid},"
                    f"{self.parent_host or 0}")
        return f"{self.pid},{self.host_group},{self.host_session}"

    @classmethod
    def parse(cls, text: str) -> Tree:
        fields = [int(x) for x in text.split(",")]
        ppid, group, session = fields[:3]
        if len(fields) == 5:
            return cls(ppid=ppid, host_group=group, host_session=session, pid=fields[3],
                       parent_host=fields[4] or None)
        return cls(ppid=ppid, host_group=group, host_session=session)

    def parent_alive(self) -> bool:
        """Whether parent_host is still this process's parent, or (after execve, which runs the new
        program in a child embedder of the old one) an ancestor a few generations up."""
        if self.parent_host is None:
            return False
        pid = os.getppid()
        for _ in range(8):
            if pid == self.parent_host:
                return True
            if not self.replaces or pid <= 1:
                return False
            pid = _host_parent(pid)
        return False

    # ---- the guest's view of host ids ---------------------------------------------------------

    def guest_group(self, host: int) -> int:
        return ROOT_PID if host == self.host_group else host

    def guest_session(self, host: int) -> int:
        return ROOT_PID if host == self.host_session else host

    def host_group_of(self, pgid: int) -> int:
        return self.host_group if pgid == ROOT_PID else pgid


def _host_parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def tree(proc) -> Tree:
    if getattr(proc, "tree", None) is None:
        proc.tree = Tree()
    return proc.tree


def known(proc) -> list[int]:
    """Host pids of the processes the caller can name: its parent (when it is alive) and its live
    children."""
    from .children import live_children
    t = tree(proc)
    out = live_children(proc)
    if t.parent_alive():
        out.append(t.parent_host)
    return out


def host_of(proc, pid: int) -> int:
    """The host pid behind guest `pid` (0: the caller): the caller, its parent or a child; else ESRCH."""
    t = tree(proc)
    if pid in (0, t.pid):
        return os.getpid()
    host = t.parent_host if pid == t.ppid and not t.is_root else pid
    if host not in known(proc):
        raise Errno(errno.ESRCH)
    return host


def getpgid(proc, pid: int) -> int:
    return tree(proc).guest_group(os.getpgid(host_of(proc, pid)))


def getsid(proc, pid: int) -> int:
    return tree(proc).guest_session(os.getsid(host_of(proc, pid)))


def setpgid(proc, pid: int, pgid: int) -> int:
    """setpgid(0 or self, 0 or self): a new host group; setpgid(self, group of a known process): join
    it. A child's group can't be changed by its parent: it has already exec'd (EACCES, as on Linux)."""
    t = tree(proc)
    if pgid < 0:
        raise Errno(errno.EINVAL)
    if pid not in (0, t.pid):
        from .children import live_children
        raise Errno(errno.EACCES if pid in live_children(proc) else errno.ESRCH)
    if t.is_root:                              # the session leader: its group is fixed
        if pgid not in (0, ROOT_PID):
            raise Errno(errno.EPERM)
        return 0
    if pgid in (0, t.pid):
        os.setpgid(0, 0)
        return 0
    host = t.host_group_of(pgid)
    if pgid == t.host_group != ROOT_PID:
        raise Errno(errno.EPERM)
    if pgid != ROOT_PID and not any(_group(p) == host for p in known(proc)):
        raise Errno(errno.EPERM)
    os.setpgid(0, host)
    return 0


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def setsid(proc) -> int:
    t = tree(proc)
    if t.is_root or os.getpgid(0) == os.getpid():
        raise Errno(errno.EPERM)               # already a group leader, as on Linux
    os.setsid()
    return t.pid


def kill(proc, pid: int, sig: int) -> bool:
    """Send `sig` to processes other than the caller (module doc); True when the caller itself is
    one of the targets (the caller delivers it to itself); ESRCH when no process matches."""
    t = tree(proc)
    if pid > 0:
        if pid == t.pid:
            return True
        from .children import ended_child
        if not ended_child(proc, pid):
            _send(host_of(proc, pid), sig)
        return False
    if pid == -1:
        for host in known(proc):
            _send(host, sig)
        return False
    pgid = t.guest_group(os.getpgid(0)) if pid == 0 else -pid
    if pgid == t.host_group != ROOT_PID:
        raise Errno(errno.ESRCH)               # the first guest's host group is named 1 inside
    host_group = t.host_group_of(pgid)
    mine = os.getpgid(0) == host_group
    if pgid != ROOT_PID:
        if not mine and not any(_group(p) == host_group for p in known(proc)):
            raise Errno(errno.ESRCH)
        if sig:
            os.killpg(host_group, sig)         # a group the tree made: only tree members are in it
        return False
    members = [p for p in known(proc) if _group(p) == host_group]
    if not members and not mine:
        raise Errno(errno.ESRCH)
    for host in members:
        _send(host, sig)
    return mine


def _send(host: int, sig: int) -> None:
    if sig:
        try:
            os.kill(host, sig)
        except ProcessLookupError:
            pass
