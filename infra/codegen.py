"""Generate the Python contracts (functions/vendyz/core/contracts) from proto/vendyz/*.proto.

    python infra/codegen.py           regenerate the committed *_pb2.py and *_pb2.pyi files
    python infra/codegen.py --check   regenerate into a temporary directory and exit 1,
                                      listing the files that differ, when they are stale

Runs `python -m grpc_tools.protoc` with `--python_out` and mypy-protobuf's `--mypy_out`
(typed .pyi stubs). The protos are staged under vendyz/core/contracts/ in a temporary include
root, so the generated modules know their real import path (vendyz.core.contracts.x_pb2) while
proto/ stays flat. The protos must not import each other: a generated module would import
its dependency as `vendyz.core.contracts.<name>_pb2` only if the proto import said
"vendyz/core/contracts/<name>.proto", which does not exist in proto/.

The output depends on the grpcio-tools (protoc) and mypy-protobuf versions; regenerate after
upgrading either.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto" / "vendyz"
PACKAGE_PATH = Path("vendyz", "core", "contracts")
CONTRACTS_DIR = ROOT / "functions" / PACKAGE_PATH
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi")


class CodegenError(RuntimeError):
    """protoc failed; the message is its output with paths pointing into proto/."""


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.glob("*.proto"))


def _mypy_plugin() -> str:
    candidate = Path(sys.executable).parent / "protoc-gen-mypy"
    found = str(candidate) if candidate.exists() else shutil.which("protoc-gen-mypy")
    if not found:
        raise CodegenError("protoc-gen-mypy not found: install mypy-protobuf (make setup)")
    return found


def generate(out_dir: Path) -> list[Path]:
    """Write the generated modules for every proto into `out_dir`; return their paths."""
    protos = proto_files()
    if not protos:
        raise CodegenError(f"no .proto files in {PROTO_DIR}")
    with tempfile.TemporaryDirectory(prefix="vendyz-codegen-") as tmp:
        include = Path(tmp, "include")
        generated = Path(tmp, "out")
        (include / PACKAGE_PATH).mkdir(parents=True)
        generated.mkdir()
        for proto in protos:
            text = proto.read_text(encoding="utf-8")
            if re.search(r"^\s*import\s+\"(?!google/protobuf/)", text, re.MULTILINE):
                raise CodegenError(f"{proto.relative_to(ROOT)}: protos must not import each other")
            shutil.copyfile(proto, include / PACKAGE_PATH / proto.name)
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{include}",
            f"--plugin=protoc-gen-mypy={_mypy_plugin()}",
            f"--python_out={generated}",
            f"--mypy_out={generated}",
            *(str(PACKAGE_PATH / proto.name) for proto in protos),
        ]
        result = subprocess.run(command, cwd=include, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            message = (result.stderr + result.stdout).replace(
                f"{PACKAGE_PATH.as_posix()}/", "proto/vendyz/"
            )
            raise CodegenError(message.strip() or f"protoc exited with {result.returncode}")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for path in sorted((generated / PACKAGE_PATH).iterdir()):
            if path.name.endswith(GENERATED_SUFFIXES):
                target = out_dir / path.name
                shutil.copyfile(path, target)
                written.append(target)
        return written


def _generated_names(directory: Path) -> set[str]:
    if not directory.is_dir():
        return set()
    return {p.name for p in directory.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}


def stale_files(contracts_dir: Path = CONTRACTS_DIR) -> list[str]:
    """Regenerate into a temporary directory; name the committed files that differ from it
    (changed, missing, or left over from a deleted proto). Empty when all are current."""
    with tempfile.TemporaryDirectory(prefix="vendyz-codegen-check-") as tmp:
        fresh = Path(tmp)
        generate(fresh)
        expected = _generated_names(fresh)
        committed = _generated_names(contracts_dir)
        stale = [
            name
            for name in sorted(expected | committed)
            if name not in expected
            or name not in committed
            or not filecmp.cmp(fresh / name, contracts_dir / name, shallow=False)
        ]
    return [str((contracts_dir / name).relative_to(ROOT)) for name in stale]


def write(contracts_dir: Path = CONTRACTS_DIR) -> list[Path]:
    """Regenerate the committed files in place, deleting those of removed protos.
    Nothing is touched when protoc fails."""
    with tempfile.TemporaryDirectory(prefix="vendyz-codegen-write-") as tmp:
        fresh = generate(Path(tmp))
        for name in _generated_names(contracts_dir):
            (contracts_dir / name).unlink()
        contracts_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for path in fresh:
            shutil.copyfile(path, contracts_dir / path.name)
            written.append(contracts_dir / path.name)
        return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail, listing them, if generated files are stale"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_files()
            for name in stale:
                print(f"stale: {name}", file=sys.stderr)
            if stale:
                print("run `make proto` and commit the result", file=sys.stderr)
                return 1
            print("contracts are up to date")
            return 0
        for path in write():
            print(f"wrote {path.relative_to(ROOT)}")
    except CodegenError as exc:
        print(f"codegen: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
