"""The VM alone, without handover: starts the exact QEMU command line a handover run used (from
its qemu-command artifact and kept run directory), listens on its two sockets itself, and plays
the runner's side of the run's transcript back: each runner line is sent once the agent line that
preceded it in the transcript (matched by message type) has arrived. Nothing is checked or
written; this is the floor a harness cannot go below."""
import json, shlex, socket, subprocess, tempfile, threading, time
from pathlib import Path


def _message_type(line):
    try:
        return json.loads(line).get("type")
    except ValueError:
        return None


def replay(out_dir, run_dir, timeout=300):
    out_dir, run_dir = Path(out_dir), Path(run_dir)
    argv = shlex.split((out_dir / "qemu-command").read_text())
    transcript = [json.loads(line) for line in (out_dir / "transcript.jsonl").read_text().splitlines() if line.strip()]
    sockets = Path(tempfile.mkdtemp(prefix="handover-replay-"))
    for name in ["console.sock", "agent.sock", "qmp.sock"]:
        argv = [arg.replace(str(run_dir / name), str(sockets / name)) for arg in argv]
    listeners = {}
    for name in ["console", "agent"]:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(sockets / f"{name}.sock"))
        listener.listen(1)
        listener.settimeout(30)
        listeners[name] = listener

    started = time.monotonic()
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        console, _ = listeners["console"].accept()
        agent, _ = listeners["agent"].accept()
        threading.Thread(target=lambda: [None for _ in iter(lambda: console.recv(65536), b"")], daemon=True).start()
        agent.settimeout(timeout)
        buffer = b""

        def next_agent_line():
            nonlocal buffer
            while b"\n" not in buffer:
                chunk = agent.recv(65536)
                if not chunk:
                    raise EOFError("the agent channel closed before the transcript ended")
                buffer += chunk
            line, buffer = buffer.split(b"\n", 1)
            return line.decode()

        for entry in transcript:
            if entry["from"] == "agent":
                wanted = _message_type(entry["line"])
                while _message_type(next_agent_line()) != wanted:
                    pass
            else:
                agent.sendall(entry["line"].encode() + b"\n")
        qemu.wait(timeout=timeout)
        return time.monotonic() - started
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
        for listener in listeners.values():
            listener.close()
