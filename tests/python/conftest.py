"""Starts `embedrock serve --port 0` for the boto3 end-to-end tests.

The binary comes from EMBEDROCK_BIN (default: `embedrock` on PATH); the
arguments before the serve options from EMBEDROCK_BIN_ARGS (default:
`serve`). A server given no `--store` runs with `--no-memory`, so no test
writes a memory store under the user's home. Each server is stopped with
SIGTERM at the end, and must exit cleanly.
"""

import os
import re
import shlex
import signal
import subprocess
import threading

import boto3
import pytest
from botocore.config import Config

BIN = os.environ.get("EMBEDROCK_BIN", "embedrock")
BIN_ARGS = shlex.split(os.environ.get("EMBEDROCK_BIN_ARGS", "serve"))
ADDR = re.compile(r"listening on (https?://\S+)")


class Server:
    """A running `embedrock serve`."""

    def __init__(self, *args, env=None):
        if "--store" not in args and "--no-memory" not in args:
            args = (*args, "--no-memory")
        cmd = [BIN, *BIN_ARGS, "--port", "0", "--no-access-log", *args]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.stderr = []
        threading.Thread(target=self._drain, daemon=True).start()
        line = self.proc.stdout.readline()
        m = ADDR.search(line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r} {''.join(self.stderr)}")
        self.url = m.group(1)

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        assert code == 0, f"exit {code}: {''.join(self.stderr)}"


@pytest.fixture
def start():
    """Starts servers with the given options; stops them after the test."""
    servers = []

    def _start(*args, env=None):
        s = Server(*args, env=env)
        servers.append(s)
        return s

    yield _start
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def server():
    """One server with default options for the whole session."""
    s = Server()
    yield s
    s.stop()


def clients(url, key="AKIDTEST", secret="dummy-secret", region="us-east-1", **config):
    """bedrock and bedrock-runtime clients pointed at `url`."""
    kw = dict(
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(**config) if config else None,
    )
    return boto3.client("bedrock", **kw), boto3.client("bedrock-runtime", **kw)



def pytest_configure(config):
    """Runs coroutine tests under pytest-asyncio ("auto" mode): langchain-tests'
    standard async tests carry no marker of their own."""
    if hasattr(config.option, "asyncio_mode") and not config.option.asyncio_mode:
        config.option.asyncio_mode = "auto"
