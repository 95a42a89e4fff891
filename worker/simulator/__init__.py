"""A FastPix live-stream API on localhost, for tests, demos and reliability runs.

Run it with `onair simulator [--host 127.0.0.1] [--port 8080] [--state-file PATH]`, then point a
client at it: `FASTPIX_API_URL=http://127.0.0.1:8080/v1`. It checks HTTP Basic auth against
FASTPIX_ACCESS_TOKEN_ID / FASTPIX_SECRET_KEY, so a client set up for it just works. In Python:
`worker.simulator.app.create_app(state_file, token_id, secret, clock=..., webhook_url=...,
webhook_secret=..., rate_limit=...)` gives the ASGI app and `run_in_thread(...)` (same arguments) a
live server on a free port (`.base_url`, `.control_url`, `.stop()`);
`worker.simulator.control.SimulatorControl` drives the control API.

What it answers, as FastPix does (paths, envelopes, status codes, error texts, ids, field order, and
`metadata` / `simulcastResponses` left out when unset) under /v1/live/streams: create (201), list
(`limit` 1..50 default 10, `offset` = page number from 1, `orderBy` asc|desc default desc, with
`pagination`), get, viewer-count, PATCH (metadata, reconnectWindow 60..1800), live-enable,
live-disable, finish, DELETE, playback-ids (POST 201 / GET / DELETE ?playbackId=) and simulcast
(POST 201 / GET / PUT / DELETE).

Status machine (`model.Stream`):
- enable: only disabled -> idle; otherwise 400 "stream is already enabled".
- disable: any -> disabled, ending a live broadcast (encoder cut, viewers 0); on disabled
  400 "stream already disabled".
- finish: only active -> idle; otherwise 400 "stream cannot be completed" /
  "Only active streams can be marked as completed.".
- delete: always (even active); afterwards every call on it is 404 "stream not found".
- PATCH on a disabled stream: 400 "stream cannot be updated".
- "Allowed duration": a stream with maxDuration > 0 accumulates live time (time spent `active`,
  across broadcasts). When it reaches maxDuration the broadcast ends at that instant and the
  stream becomes disabled; from then on enable answers 400 "stream duration exceeded". A stream
  with maxDuration 0 (the real default) is never limited. maxDuration is set at create time with
  `inputMediaSettings.maxDuration` (0 or 60..28800), a simulator extension.
- Encoder: connect makes idle -> preparing, active after `connect_delay` (default 1 s); disconnect
  makes a preparing/active stream idle once `reconnectWindow x time_scale` seconds pass (or the
  override); reconnecting within that window keeps the broadcast active. These are instants applied
  lazily whenever the stream is looked at, so a FixedClock drives them exactly; while webhooks are
  on, a ticker also applies them every 0.1 s, so their events go out when they happen.

Webhooks (`webhook_events`, `webhook_sender`): with a URL and a secret, every status change is
POSTed as FastPix's envelope: `type` `video.live_stream.<event>`, `id` (a new UUID), `webhookId`,
`object` {`name`: "live", `id`}, `environment` {`name`, `id`}, `data` (the stream exactly as GET
returns it, `streamKey` / `srtSecret` included, as FastPix does), `created_at` (the instant of the
change, even one applied lazily), `attempts` (1, then one more per retry). Header
`FastPix-Signature` = Base64(HMAC-SHA256(key = Base64-decoded secret, raw body)). Events:
create `created`; encoder connect `connected` + `preparing`, then `recording` (when enableRecording)
+ `active` after the connect delay; back within the reconnect window `connected` + `active`;
encoder drop `disconnected` (status still active), then `idle` when the window runs out; enable
`idle`; disable, or maxDuration used up, `disabled`; finish `idle`; PATCH `updated`; DELETE
`deleted` (data: the stream as it was). Delivery runs in a thread of its own (an API answer never
waits), in order per stream, retrying a non-2xx answer or connection error after 0.5, 1, 2, 4 s
(5 attempts), then giving up (logged). Queued events are not persisted: a stop drops them. The
process log names events and streams, never the secret, a body or a key.

Rate limit (`ratelimit`): a sliding one-second window: a /v1 request is admitted when fewer than
`rps` requests were admitted in the second before it; otherwise 429 with `Retry-After: 1` and
FastPix's error body (`too many requests`), nothing done, logged with outcome `rate_limited`.
Measured on monotonic time, so a FixedClock does not stop it. Refused requests do not count.

Persistence (`state.SimState`): the snapshot is rewritten atomically, at most every flush interval
(50 ms), the call log appended beside it (`<stem>.calls.jsonl`, last 200,000 calls kept). A clean
stop (SIGTERM, SIGINT, `handle.stop()`) flushes everything first. A kill -9 loses at most the
changes and logged calls of the last flush interval; a torn last log line is ignored on load.

README section
--------------

### The FastPix simulator

`onair simulator --port 8080 --state-file .onair/simulator.json [--time-scale 0.01]
[--connect-delay 1] [--flush-interval 0.05] [--webhook-url URL --webhook-secret B64]
[--rate-limit RPS]` serves FastPix's /v1/live/streams API (Basic auth against
FASTPIX_ACCESS_TOKEN_ID / FASTPIX_SECRET_KEY) and a control API under /_sim (no auth; bind it to
loopback). With `--webhook-url` it signs and POSTs FastPix's webhook for every stream status change
(`--webhook-secret` defaults to `$FASTPIX_WEBHOOK_SECRET`, so it can stay off the command line);
with `--rate-limit` it answers 429 above that many /v1 requests a second.

| Control endpoint | What it does |
|---|---|
| `GET /_sim/health` | `{"ok": true}` once serving |
| `POST /_sim/reset` | forget all streams, faults and logged calls |
| `GET /_sim/streams`, `GET /_sim/streams/{id}` | full internal state (timers, live time, keys) |
| `POST /_sim/streams/{id}/connect` `{"delay": s}` | idle -> preparing -> active; 409 if disabled |
| `POST /_sim/streams/{id}/disconnect` `{"reconnect_window_override": s}` | idle after the window |
| `POST /_sim/streams/{id}/viewers` `{"views": n}` | what viewer-count reports |
| `POST /_sim/faults` | inject a fault (below); 201 with the rule |
| `GET /_sim/faults`, `DELETE /_sim/faults` | list / clear fault rules |
| `GET /_sim/calls?since=SEQ&stream_id=..&endpoint=..&limit=..` | the call log, oldest first, and `last_seq` |
| `GET /_sim/config`, `POST /_sim/config` `{"time_scale", "connect_delay"}` | tunables |
| `GET /_sim/webhooks?since=SEQ&stream_id=..` | webhook settings and delivery log (below) |
| `POST /_sim/webhooks/config` `{"url", "secret"}` | send webhooks there; `{"url": null}` stops |
| `POST /_sim/webhooks/send` `{"kind", ...}` | a duplicate, stale or wrongly signed event (below) |
| `GET /_sim/rate-limit`, `POST /_sim/rate-limit` `{"rps": n}` | 429 above n /v1 requests/s; null: none |

A fault: `{"endpoint": "enable"|"disable"|"finish"|"get"|"list"|"update"|"delete"|"create"|"viewers"|
"playback_*"|"simulcast_*"|"*", "kind": "500"|"502"|"503"|"524"|"429"|"slow"|"drop",
"count": N | "fraction": 0..1, "seed": int, "retry_after": seconds | "HTTP date", "delay": s,
"apply_effect": false, "stream_id": optional}`. 500 and 429 answer JSON error bodies, 502/503 an
HTML proxy page, 524 `error code: 524`; slow does the work then answers `delay` s later; drop
closes the connection with no response. `apply_effect: true` does the work before failing.

`GET /_sim/webhooks` answers `enabled`, `url`, `pending` (events queued or being retried) and
`deliveries`, one per attempt: `seq`, `time`, `event_id`, `type`, `stream_id`, `kind` (`event`,
`duplicate`, `stale`, `bad_signature`), `attempt`, `http_status` (0: no answer), `error`.
`POST /_sim/webhooks/send` makes one attempt now, no retry, and answers its delivery entry:
`{"kind": "duplicate", "event_id"?, "stream_id"?}` sends an event already sent again (same id, same
bytes, same signature; default the last one sent); `{"kind": "stale", "stream_id", "event": "idle",
"age": 60}` a new event dated `age` s before the stream's newest, its `data.status` set to what
`event` names; `{"kind": "bad_signature", "stream_id", "event"?}` a new event signed with a wrong
key. 409 while webhooks are off. `POST /_sim/reset` also clears the delivery log and puts the
webhook receiver and the rate limit back to their start-up settings.

Each logged call: `seq`, `time` (arrival, ISO UTC with microseconds), `method`, `path`,
`endpoint`, `stream_id`, `http_status` (0 for a drop), `outcome` (`ok`, `error`, `fault:<kind>`,
`rate_limited`), `status_before`, `status_after`. `seq` follows the order calls were answered.
"""
