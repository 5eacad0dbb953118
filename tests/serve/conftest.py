"""Fixtures for `mlw serve`: a small trained churn project, and the real server as a subprocess.

Training runs once per session (a few seconds); tests that change the registry or need
another config copy the project folder (`project_copy`) instead of training again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ..conftest import promoted_churn_project, run_mlw

START_TIMEOUT = 45.0
mlw_cli = run_mlw  # mlw as a subprocess -> Run(exit_code, stdout, stderr)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Project:
    config: Path
    first: str  # the train version `production` points at

    @property
    def folder(self) -> Path:
        return self.config.parent

    @property
    def store(self) -> Path:
        return self.folder / "artifacts" / "churn"

    def registry(self) -> dict:
        return json.loads((self.store / "registry.json").read_text())

    def prediction_lines(self) -> list[dict]:
        lines = []
        for path in sorted((self.store / "predictions").glob("predictions-*.jsonl")):
            lines += [json.loads(line) for line in path.read_text().splitlines()]
        return lines


@dataclass
class Server:
    """A running `mlw serve` subprocess."""

    process: subprocess.Popen
    port: int
    project: Project
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout, headers=self.headers)

    def stop(self, timeout: float = 60) -> tuple[int, str]:
        """SIGTERM, wait, and return (exit code, stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        return self.process.returncode, stderr


def start_server(project: Project, *args: str, env: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> Server:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "mlflow_cli", "serve", "-c", str(project.config),
                                "--port", str(port), *args], env={**os.environ, **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server = Server(process, port, project, headers or {})
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mlw serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"mlw serve did not answer /health within {START_TIMEOUT} s")


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A churn project with a logistic regression promoted to `production`, and its evaluation."""
    folder = tmp_path_factory.mktemp("serve-project")
    config = promoted_churn_project(folder)
    first = json.loads((folder / "artifacts" / "churn" / "registry.json").read_text())["aliases"]["production"]
    return Project(config, first["version"])


@pytest.fixture
def project_copy(trained: Project, tmp_path: Path) -> Project:
    """A private copy of the trained project (its registry and prediction log are the test's own)."""
    folder = tmp_path / "project"
    shutil.copytree(trained.folder, folder, ignore=shutil.ignore_patterns("predictions"))
    return Project(folder / "mlw.yaml", trained.first)


@pytest.fixture(scope="module")
def server(trained: Project):
    """The shared server: default settings, except a 1 MB body limit (to test 413 cheaply)."""
    running = start_server(trained, "--set", "serve.max_body_mb=1")
    yield running
    running.stop()
