"""Powertools Logger, Metrics and Tracer for a service, created once per instance.

The Tracer exists only when tracing is on. Locally it is off (POWERTOOLS_TRACE_DISABLED, set
by the local cloud and the tests), and a disabled Tracer would still import the X-Ray SDK
(~170 ms of cold start) and open a segment per call.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from vendyz import end_init

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

METRICS_NAMESPACE = "Vendyz"

# Most invocations record no metric of their own; that is not worth a warning per request.
warnings.filterwarnings("ignore", message="No application metrics to publish")

Handler = Callable[[dict[str, Any], LambdaContext], Any]


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() not in ("1", "true")


@dataclass(frozen=True)
class Observability:
    logger: Logger
    metrics: Metrics
    tracer: Tracer | None

    def instrument(self, handler: Handler) -> Handler:
        """Logger (with the API Gateway request id as correlation id), Metrics, and the Tracer
        when tracing is on. The last step of every function's init, so it ends the init."""
        if self.tracer is not None:
            handler = self.tracer.capture_lambda_handler(handler, capture_response=False)
        handler = self.metrics.log_metrics(handler)
        wrapped: Handler = self.logger.inject_lambda_context(
            handler, correlation_id_path=correlation_paths.API_GATEWAY_HTTP
        )
        end_init()
        return wrapped


def observability(service: str) -> Observability:
    tracer = None
    if tracing_enabled():
        from aws_lambda_powertools import Tracer

        tracer = Tracer(service=service)
    return Observability(
        logger=Logger(service=service),
        metrics=Metrics(namespace=METRICS_NAMESPACE, service=service),
        tracer=tracer,
    )
