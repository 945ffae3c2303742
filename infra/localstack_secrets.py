"""Create the two secrets the localstack config env names, if LocalStack lacks them.

    python infra/localstack_secrets.py

`vendyz/local/jwt` (a random JWT signing key) and `vendyz/local/admin` (the seed admin, from
VENDYZ_ADMIN_EMAIL / VENDYZ_ADMIN_PASSWORD, by default the local cloud's lead@vendyz.dev /
flashsale). The endpoint is AWS_ENDPOINT_URL (default LocalStack's). Existing secrets stay as
they are, so a redeploy keeps its tokens valid.
"""

from __future__ import annotations

import json
import os
import secrets

import boto3

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://localhost.localstack.cloud:4566")


def main() -> None:
    client = boto3.client(
        "secretsmanager",
        endpoint_url=ENDPOINT,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
    admin = {
        "email": os.environ.get("VENDYZ_ADMIN_EMAIL", "lead@vendyz.dev"),
        "password": os.environ.get("VENDYZ_ADMIN_PASSWORD", "flashsale"),
    }
    wanted = {
        "vendyz/local/jwt": secrets.token_urlsafe(48),
        "vendyz/local/admin": json.dumps(admin),
    }
    for name, value in wanted.items():
        try:
            client.create_secret(Name=name, SecretString=value)
            print(f"created secret {name}")
        except client.exceptions.ResourceExistsException:
            print(f"secret {name} already there")


if __name__ == "__main__":
    main()
