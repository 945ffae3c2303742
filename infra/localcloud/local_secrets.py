"""The secrets of one local cloud, generated once per data dir and kept there (mode 0600):
the AWS credentials its APIs accept and its functions and bridge sign with, and the JWT
signing key it seeds into its Secrets Manager. Nothing of them is in the source."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud.template import LOCAL_REGION

SECRETS_FILE = "local-secrets.json"


@dataclass(frozen=True)
class LocalSecrets:
    access_key_id: str
    secret_access_key: str
    jwt_key: str

    @classmethod
    def generate(cls) -> LocalSecrets:
        return cls(
            # The shape of an IAM access key: AKIA + 16 upper-case letters and digits.
            access_key_id="AKIA" + secrets.token_hex(8).upper(),
            secret_access_key=secrets.token_urlsafe(30),
            jwt_key=secrets.token_urlsafe(48),
        )

    @classmethod
    def of_data_dir(cls, data_dir: Path) -> LocalSecrets:
        """The data dir's secrets, generated on its first start."""
        path = data_dir / SECRETS_FILE
        if path.exists():
            return cls(**json.loads(path.read_text()))
        made = cls.generate()
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(asdict(made), file)
        return made

    def signed_headers(
        self, url: str, body: bytes, headers: dict[str, str] | None = None
    ) -> dict[str, str]:
        """`headers` plus those signing a POST of `body` to the local Lambda API at `url`."""
        request = AWSRequest("POST", url, data=body, headers=headers or {})
        credentials = Credentials(self.access_key_id, self.secret_access_key)
        SigV4Auth(credentials, "lambda", LOCAL_REGION).add_auth(request)
        return dict(request.headers.items())

    def aws_environment(self) -> dict[str, str]:
        """The credentials as Lambda hands them to a function (and boto3 reads them)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }
