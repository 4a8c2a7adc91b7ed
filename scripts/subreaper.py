#!/usr/bin/env python3
"""Runs a command as a child subreaper and reaps every orphan below it at once.

    scripts/subreaper.py COMMAND [ARGUMENT...]

libvirtd starts QEMU daemonized, so a domain's QEMU is an orphan and only its reaper can
collect it when it ends; libvirt waits for that (virProcessKillPainfully polls kill(pid, 0))
before it reports the domain stopped. Where PID 1 reaps orphans late (seen here: 1.4-1.7 s
per exited orphan), every domain's end costs that much. Started under this process,
libvirtd's orphans come here instead (PR_SET_CHILD_SUBREAPER) and are reaped as they exit.
It exits when nothing is left below it.
"""
import ctypes
import os
import sys

PR_SET_CHILD_SUBREAPER = 36


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: subreaper.py COMMAND [ARGUMENT...]", file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print(f"subreaper: prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    command = sys.argv[1:]
    child = os.fork()
    if child == 0:
        try:
            os.execvp(command[0], command)
        except OSError as error:
            print(f"subreaper: cannot run {command[0]}: {error.strerror}", file=sys.stderr)
            os._exit(127)
    status = 0
    while True:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            return status
        except InterruptedError:
            continue
        if pid == child:
            status = os.waitstatus_to_exitcode(code)


if __name__ == "__main__":
    sys.exit(main())
