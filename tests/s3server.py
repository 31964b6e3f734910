"""An S3-compatible server for the tests: moto's standalone server on a free loopback port, started once per session.

The AWS variables tidemark reads (``AWS_ENDPOINT_URL``, keys, region) point at it for the session; every test writes
under its own prefix of one bucket.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

BUCKET = "tidemark-test"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str

    def url(self, name: str) -> str:
        """A fresh ``s3://`` prefix (never used before in this session)."""
        return f"s3://{self.bucket}/{name}-{uuid.uuid4().hex[:8]}"

    def keys(self, prefix: str) -> list[str]:
        """The object keys under an ``s3://bucket/prefix`` URL."""
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint)
        key = prefix.removeprefix(f"s3://{self.bucket}/")
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=key)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto server did not listen within 30 s")


@pytest.fixture(scope="session", name="s3_server")
def s3_server_fixture() -> Iterator[S3Server]:
    pytest.importorskip("moto.server", reason="pip install 'moto[server]' (in the dev extra)")
    import boto3

    port = _free_port()
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    try:
        _wait(port, proc)
        with pytest.MonkeyPatch.context() as mp:
            for name, value in env.items():
                mp.setenv(name, value)
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
            yield S3Server(endpoint, BUCKET)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
