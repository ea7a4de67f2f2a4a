"""Writes pre-signed Stripe webhook deliveries for bench/webhooks, one per
line as "signature<TAB>payload". Every fifth delivery repeats an earlier
event, as Stripe's retries do.

Usage: webhook_events.py SECRET COUNT OUT_FILE
"""
import hashlib
import hmac
import json
import pathlib
import sys
import time

secret, count, out = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
fixture = json.loads(pathlib.Path(__file__).parent.parent.joinpath(
    "server/tests/fixtures/stripe/subscription_active_starter.json").read_text())
now = int(time.time())
lines = []
for n in range(count):
    event_number = n - 3 if n % 5 == 4 else n  # a redelivery of a recent event
    event = {
        "id": f"evt_bench_{now}_{event_number}",
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": now,
        "data": {"object": fixture},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "customer.subscription.updated",
    }
    payload = json.dumps(event, separators=(",", ":"))
    digest = hmac.new(secret.encode(), f"{now}.{payload}".encode(), hashlib.sha256).hexdigest()
    lines.append(f"t={now},v1={digest}\t{payload}")
out.write_text("\n".join(lines) + "\n")
