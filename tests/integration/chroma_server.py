"""A real Chroma server (``chroma run``) for integration tests, which a test may kill and restart."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from tests.emulators.harness import free_port


class ChromaServer:
    """``chroma run`` on one port and data folder; :meth:`kill` and :meth:`start` again keep both."""

    def __init__(self, data: Path, *, port: int | None = None) -> None:
        self.data = data
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 30.0) -> None:
        """Start the server and wait for its heartbeat (fails the test when it does not come up)."""
        binary = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
        self.process = process = subprocess.Popen(
            [binary, "run", "--path", str(self.data), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("chroma run did not start", pytrace=False)
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the server (a crash: no graceful shutdown) and reap it."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """Terminate the server if it runs."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> ChromaServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
