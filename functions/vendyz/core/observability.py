"""Powertools Logger, Metrics and Tracer for a service, created once per instance.

Tracing is off locally (POWERTOOLS_TRACE_DISABLED, set by the local cloud and the tests),
so the X-Ray SDK is never asked for a daemon that is not there.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from aws_lambda_powertools import Logger, Metrics, Tracer

METRICS_NAMESPACE = "Vendyz"

# Most invocations record no metric of their own; that is not worth a warning per request.
warnings.filterwarnings("ignore", message="No application metrics to publish")


@dataclass(frozen=True)
class Observability:
    logger: Logger
    metrics: Metrics
    tracer: Tracer


def observability(service: str) -> Observability:
    return Observability(
        logger=Logger(service=service),
        metrics=Metrics(namespace=METRICS_NAMESPACE, service=service),
        tracer=Tracer(service=service),
    )
