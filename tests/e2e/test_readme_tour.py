"""README's tour of the API, run as written (with bash and curl) against a local cloud: only
its address is changed, from the documented port 3000 to the test cloud's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOUR_HEADING = "## A tour of the API"
DOCUMENTED_ADDRESS = "127.0.0.1:3000"


def tour_script() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split(TOUR_HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert blocks, "README's tour has no ```sh blocks"
    return "\n".join(blocks)


def test_the_readme_tour_runs_as_written(base_url: str) -> None:
    # GIVEN README's tour, pointed at the test cloud instead of port 3000
    script = tour_script()
    assert DOCUMENTED_ADDRESS in script
    script = script.replace(DOCUMENTED_ADDRESS, base_url.removeprefix("http://"))
    # WHEN a shell runs it, stopping at the first failing command
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout
    # THEN every step succeeds: the order is confirmed, the retry is a replay, nothing is
    # refused until the last step, where the logged-out token gets 401
    assert done.returncode == 0, f"{done.stderr}\n{output}"
    assert '"success":false' not in output, output
    assert output.count('"status":"CONFIRMED"') >= 2, output
    assert re.search(r"^idempotent-replayed: true", output, re.IGNORECASE | re.MULTILINE), output
    # (curl prints each JSON reply without a newline; the status code ends the output)
    assert output.rstrip().endswith("}401"), output
