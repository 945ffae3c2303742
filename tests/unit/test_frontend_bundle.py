"""The shop's first load stays small: what index.html pulls in, at most 200 KB gzipped."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "frontend" / "dist"
FIRST_LOAD_LIMIT_BYTES = 200 * 1024
# Scripts, stylesheets and module preloads: what a browser fetches before the app runs.
ASSET_REF = re.compile(r'(?:src|href)="(/assets/[^"]+)"')


def first_load(index: Path) -> list[Path]:
    html = index.read_text()
    return [index, *(DIST / ref.lstrip("/") for ref in ASSET_REF.findall(html))]


def test_the_first_load_is_at_most_200_kb_gzipped() -> None:
    # GIVEN the production build (`make setup` builds it)
    index = DIST / "index.html"
    assert index.is_file(), "no frontend build: run `make setup`"
    files = first_load(index)
    # THEN it references its scripts (the check below would pass on an empty page)
    assert any(f.suffix == ".js" for f in files), files
    # WHEN each file is gzipped as a CDN would serve it
    sizes = {f.name: len(gzip.compress(f.read_bytes())) for f in files}
    # THEN the whole first load is within the budget
    assert sum(sizes.values()) <= FIRST_LOAD_LIMIT_BYTES, sizes
