"""The run's own root folder, built by the launcher inside the run's private mount namespace.

Standard library only (imported by ``launcher.py``, which runs outside the package). The view holds:
read-only binds of the system folders (``SYSTEM_PATHS``) and of the interpreter's prefix at its own
path; a minimal ``/dev`` (null, zero, full, random, urandom, fd links); a fresh ``/proc`` (mounted by
PID 1 of the run); the program's source, read-only; and empty private folders (the working folder,
``/tmp``, ``/var/tmp``, ``/run``, ``/dev/shm``) that are all one size-limited tmpfs of the run. Nothing
else of the host exists there: no home folders, no other runs' folders, no host sockets in /tmp or
/run, no /sys. ``pivot_root`` then detaches the host's mounts from the namespace altogether.
"""

from __future__ import annotations

import ctypes
import os
import platform
from pathlib import Path

__all__ = ["SYSTEM_PATHS", "build_root", "libc", "mount"]

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_MOVE, _MS_BIND, _MS_REC = 32, 8192, 4096, 16384
_MS_NOATIME, _MS_NODIRATIME, _MS_RELATIME, _MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
# A remount must repeat the flags a mount already has (a user namespace may not clear them).
_KEEP_FLAGS = {"nosuid": _MS_NOSUID, "nodev": _MS_NODEV, "noexec": _MS_NOEXEC, "noatime": _MS_NOATIME,
               "nodiratime": _MS_NODIRATIME, "relatime": _MS_RELATIME, "strictatime": _MS_STRICTATIME}
_MNT_DETACH = 2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
_DEVICES = ("null", "zero", "full", "random", "urandom")
_DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
              "stderr": "/proc/self/fd/2"}
_INODES = 8192  # files and folders the run may create in all its private folders together
_LIBC = None


def libc():
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def mount(source, target, fstype, flags, data=None) -> None:
    enc = lambda s: None if s is None else str(s).encode()  # noqa: E731
    if libc().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target}: {os.strerror(errno)}")


def build_root(run_dir: str, uid: int | None, prefix: str, disk_bytes: int, source: bytes,
               work: str, program: str) -> list[str]:
    """Builds the view under ``run_dir/root`` and makes it the root; returns what is in force.

    Args:
        run_dir: the run's host folder (mode 0700); its ``root`` and ``scratch`` become mount points.
        uid: owner of the private folders (the run's uid), or None to keep the launcher's.
        prefix: the interpreter's installation folder, bound read-only at its own path.
        disk_bytes: size of the tmpfs that holds every private folder.
        source: the program, written read-only at ``program``.
        work: path of the working folder in the view.
    """
    os.umask(0o022)
    run = Path(run_dir)
    new, scratch = run / "root", run / "scratch"
    new.mkdir(mode=0o755)
    scratch.mkdir(mode=0o700)
    mount("tmpfs", new, "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode=755,size={len(source) + (1 << 20)}")
    mount("tmpfs", scratch, "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode=755,size={disk_bytes},nr_inodes={_INODES}")
    _bind_system(new, prefix)
    _make_dev(new)
    private = {"home": work, "tmp": "/tmp", "var_tmp": "/var/tmp", "run": "/run", "shm": "/dev/shm"}
    for name, path in private.items():
        (scratch / name).mkdir(mode=0o700)
        if uid is not None:
            os.chown(scratch / name, uid, uid)
        os.makedirs(new / path.lstrip("/"), mode=0o755, exist_ok=True)
        mount(scratch / name, new / path.lstrip("/"), None, _MS_BIND)
    target = new / program.lstrip("/")
    target.parent.mkdir(mode=0o755, parents=True)
    target.write_bytes(source)
    (new / "proc").mkdir(mode=0o555)
    _lock_down(new, writable={str(new / p.lstrip("/")) for p in private.values()},
               devices={str(new / "dev" / d) for d in _DEVICES})
    _pivot(new)
    return ["mount-view", f"private-tmpfs ({disk_bytes >> 20} MB: {', '.join(private.values())})"]


def _bind_system(new: Path, prefix: str) -> None:
    covered = []
    for path in SYSTEM_PATHS:
        if os.path.islink(path):  # merged /usr: /bin -> usr/bin and the like
            os.symlink(os.readlink(path), new / path.lstrip("/"))
        elif os.path.isdir(path):
            (new / path.lstrip("/")).mkdir(mode=0o755)
            mount(path, new / path.lstrip("/"), None, _MS_BIND | _MS_REC)
            covered.append(os.path.realpath(path))
    # An interpreter outside them (pyenv under /root) appears alone: the rest of its folder does not.
    if not any(prefix == c or prefix.startswith(c + "/") for c in covered):
        os.makedirs(new / prefix.lstrip("/"), mode=0o755)
        mount(prefix, new / prefix.lstrip("/"), None, _MS_BIND | _MS_REC)


def _make_dev(new: Path) -> None:
    dev = new / "dev"
    dev.mkdir(mode=0o755)
    mount("tmpfs", dev, "tmpfs", _MS_NOSUID | _MS_NOEXEC, "mode=755,size=64k")
    for name in _DEVICES:
        if os.path.exists(f"/dev/{name}"):
            (dev / name).touch()
            mount(f"/dev/{name}", dev / name, None, _MS_BIND)
    for name, target in _DEV_LINKS.items():
        os.symlink(target, dev / name)


def _lock_down(new: Path, writable: set[str], devices: set[str]) -> None:
    """Every mount of the view read-only, nosuid and nodev, except the private folders (writable,
    noexec) and the device binds (usable, noexec)."""
    root = str(new)
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        mounts = [line.split() for line in f]
    for fields in mounts:
        target = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
        if target != root and not target.startswith(root + "/"):
            continue
        flags = _MS_REMOUNT | _MS_BIND | _MS_NOSUID | _MS_NOEXEC * (target in writable or target in devices)
        flags |= sum(_KEEP_FLAGS.get(opt, 0) for opt in fields[5].split(","))
        if target in devices:
            flags &= ~_MS_NODEV
        else:
            flags |= _MS_NODEV | _MS_RDONLY * (target not in writable)
        mount(None, target, None, flags)


def _pivot(new: Path) -> None:
    os.chdir(new)
    lib = libc()
    if _SYS_PIVOT_ROOT is not None and lib.syscall(_SYS_PIVOT_ROOT, b".", b".") == 0:
        # The host's root now lies on top of the view at "/"; detaching it removes every host mount.
        if lib.umount2(b".", _MNT_DETACH) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"umount old root: {os.strerror(errno)}")
    else:  # other architectures: move the view onto / and chroot (the program cannot chroot back)
        mount(new, "/", None, _MS_MOVE)
        os.chroot(".")
    os.chdir("/")
