"""`python -m auth.devprovider` as a real process: it serves with a key file and refuses
production mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from auth.devprovider.signing import IdTokenSigner
from cardstream_testing.processes import ServiceProcess
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def get_json(url: str) -> tuple[dict[str, Any], str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read()), response.headers.get("Cache-Control", "")


def test_serves_discovery_and_the_key_file_under_its_derived_issuer(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "devidp.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    env = {"DEVIDP_KEY_FILE": str(key_file), "DEVIDP_ISSUER": "", "DEVIDP_MODE": "development"}
    with ServiceProcess(
        "auth.devprovider", env, port_setting="DEVIDP_PORT", log_path=tmp_path / "devidp.log"
    ) as idp:
        document, _ = get_json(f"{idp.url}/.well-known/openid-configuration")
        jwks, cache_control = get_json(document["jwks_uri"])
    assert document["issuer"] == idp.url
    assert [k["kid"] for k in jwks["keys"]] == [IdTokenSigner.from_pem(key_file.read_bytes()).kid]
    assert cache_control == "public, max-age=300"


def test_sigterm_stops_it_cleanly_with_status_0(tmp_path: Path) -> None:
    env = {"DEVIDP_ISSUER": "", "DEVIDP_MODE": "development"}
    idp = ServiceProcess(
        "auth.devprovider", env, port_setting="DEVIDP_PORT", log_path=tmp_path / "devidp.log"
    ).start()
    try:
        get_json(f"{idp.url}/.well-known/openid-configuration")
    finally:
        status = idp.stop()
    assert status == 0, idp.log()
    assert "Traceback" not in idp.log()


def test_refuses_to_start_in_production_mode() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "auth.devprovider"],
        env={**os.environ, "DEVIDP_MODE": "production", "DEVIDP_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "production" in result.stderr
    assert "Traceback" not in result.stderr
