"""The local cloud's secrets are its data dir's own: generated once, kept private, not shared
with another data dir, and nowhere in the source."""

from __future__ import annotations

import stat
from pathlib import Path

from localcloud.local_secrets import SECRETS_FILE, LocalSecrets


def test_a_data_dir_keeps_the_secrets_it_generated_first(tmp_path: Path) -> None:
    # GIVEN two data dirs
    first_dir, other_dir = tmp_path / "a", tmp_path / "b"
    # WHEN the cloud starts twice on the first and once on the other
    first, again = LocalSecrets.of_data_dir(first_dir), LocalSecrets.of_data_dir(first_dir)
    other = LocalSecrets.of_data_dir(other_dir)
    # THEN the first keeps its secrets, the other has its own, and only the owner can read them
    assert first == again
    assert first.access_key_id != other.access_key_id
    assert first.secret_access_key != other.secret_access_key
    assert first.jwt_key != other.jwt_key
    assert len(first.jwt_key) >= 32
    assert first.access_key_id.startswith("AKIA")
    mode = stat.S_IMODE((first_dir / SECRETS_FILE).stat().st_mode)
    assert mode == 0o600
