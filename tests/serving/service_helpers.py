"""A real server for the tests: `run_hydrarec.py serve ...` in a subprocess on 127.0.0.1 and a free port."""

import os
import socket
import subprocess
import sys
import time

import httpx

from helpers import REPO

N = 8  # MAX_ITEM_LIST_LENGTH of the served test models (conftest.py)
ITEMS = 30  # items of their synthetic dataset


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`run_hydrarec.py serve ...` in a subprocess, and an HTTP client for it."""

    def __init__(self, checkpoint, store, *options, env=None, cwd=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, os.path.join(REPO, "run_hydrarec.py"), "serve", "--checkpoint", checkpoint]
        command += ["--store", store, "--port", str(self.port), *options]
        self.log = open(os.path.join(cwd or os.getcwd(), f"server-{self.port}.log"), "w+")
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})), cwd=cwd
        )
        self.client = httpx.Client(base_url=self.url, timeout=60)

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if self.client.get("/health").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready after {timeout} s:\n{self.output()}")

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-4000:]

    def stop(self, kill=False):
        if self.process.poll() is None:
            (self.process.kill if kill else self.process.terminate)()
            self.process.wait(timeout=60)
        self.client.close()
        self.log.close()
