"""Puts the frontend build on the stack's shop bucket and tells the shop where its API is.

`make deploy-frontend STACK=vendyz-dev` (after `sam deploy`): reads the stack's outputs,
uploads frontend/dist (hashed assets cached for a year, index.html and config.json never
without revalidation), writes /config.json, and invalidates what must be fresh at once.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "frontend" / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
FRESH_PATHS = ["/", "/index.html", "/config.json"]


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def shop_config(outputs: dict[str, str]) -> dict[str, str]:
    """The API is on the shop's own origin (CloudFront routes /api/*); the WebSocket API is
    the stack's WebSocketUrl output, if it has one."""
    ws_url = outputs.get("WebSocketUrl", "")
    return {"apiUrl": "/api/v1", "wsUrl": ws_url if ws_url.startswith(("wss://", "ws://")) else ""}


def upload(s3: Any, bucket: str, dist: Path, config: dict[str, str]) -> list[str]:
    """Uploads every file of the build, then config.json; returns the keys written."""
    if not (dist / "index.html").is_file():
        raise SystemExit(f"no build in {dist}: run `make frontend-build` first")
    files = sorted(p for p in dist.rglob("*") if p.is_file())
    # index.html last: it must never name an asset that is not there yet.
    files.sort(key=lambda p: p.name == "index.html")
    written = []
    for path in files:
        key = path.relative_to(dist).as_posix()
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            CacheControl=IMMUTABLE if key.startswith("assets/") else REVALIDATE,
        )
        written.append(key)
    s3.put_object(
        Bucket=bucket,
        Key="config.json",
        Body=json.dumps(config).encode(),
        ContentType="application/json",
        CacheControl=REVALIDATE,
    )
    return [*written, "config.json"]


def invalidate(cloudfront: Any, distribution_id: str) -> str:
    reply = cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(FRESH_PATHS), "Items": FRESH_PATHS},
            "CallerReference": f"deploy-frontend-{time.time_ns()}",
        },
    )
    invalidation_id: str = reply["Invalidation"]["Id"]
    return invalidation_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="vendyz-dev", help="the SAM stack (samconfig's)")
    parser.add_argument("--region", default=None, help="AWS region (default: your profile's)")
    parser.add_argument("--dist", type=Path, default=DIST)
    args = parser.parse_args()
    session = boto3.Session(region_name=args.region)
    outputs = stack_outputs(session.client("cloudformation"), args.stack)
    missing = {"ShopBucketName", "ShopDistributionId", "ShopUrl"} - outputs.keys()
    if missing:
        print(f"stack {args.stack} has no {sorted(missing)}: deploy template.yaml first")
        return 1
    config = shop_config(outputs)
    keys = upload(session.client("s3"), outputs["ShopBucketName"], args.dist, config)
    invalidate(session.client("cloudfront"), outputs["ShopDistributionId"])
    print(f"uploaded {len(keys)} files; the shop: {outputs['ShopUrl']} (config {config})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
