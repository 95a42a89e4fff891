"""The Celery queues. Actions and dispatch go to QUEUE. The planner and the stream sync go to
PLAN_QUEUE, served by a worker of their own (`onair run` starts one): a planner tick is ~100 ms of CPU
per thousand broadcasts in the horizon, and in a worker that also sends acts it held their threads off
the GIL, so calls left up to 100 ms late (docs/performance.md). The viewer-count samples go to
VIEWERS_QUEUE, which the planner's worker also serves (worker.service.viewers): low priority, never in
the way of the acts."""

QUEUE = "onair"
PLAN_QUEUE = "onair.plan"
VIEWERS_QUEUE = "onair.viewers"
