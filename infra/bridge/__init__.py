"""The NATS bridge: a long-running process (ECS Fargate in AWS, a child of `vendyz up`
locally) that turns the events of the JetStream stream VENDYZ into WebSocket pushes.

It reads the stream through a durable consumer, so a restart resumes where it stopped; keeps
each service's last heartbeat; drops the product views cached in Redis when stock changes;
and pushes `health`, `stock` and `order` messages through API Gateway's `@connections` API
to the connections the Realtime function keeps in Redis. It is deployed on its own, so it
never imports `vendyz`.
"""
