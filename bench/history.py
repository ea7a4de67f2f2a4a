#!/usr/bin/env python3
"""Generates a realistic subscription history as the CSV `server import-history`
reads: N organisations over M months, with trials (most converting), upgrades,
downgrades, seat and add-on changes, failed payments that recover or not,
cancellations and reactivations. Deterministic for a seed.

Usage: bench/history.py ORGS MONTHS [SEED] > history.csv
"""
import random
import sys
from datetime import datetime, timedelta, timezone

PLANS = [("starter", 4900, 52900), ("professional", 14900, 160900), ("enterprise", 49900, 538900)]
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def main():
    orgs = int(sys.argv[1])
    months = int(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
    end = START + timedelta(days=30.44 * months)
    out = sys.stdout
    out.write("org_id,subscription_id,at,status,plan,interval,unit_amount_cents,quantity,"
              "addon_unit_amount_cents,addon_quantity,discount_percent_forever,currency\n")
    for n in range(orgs):
        org = f"org_{n:07d}"
        sub = f"sub_{n:07d}"
        at = START + timedelta(seconds=rng.randrange(int((end - START).total_seconds())))
        tier = rng.choices(range(3), weights=[6, 3, 1])[0]
        interval = rng.choices(["month", "year", "quarter"], weights=[80, 15, 5])[0]
        state = {"tier": tier, "quantity": rng.randint(1, 5), "addon": 0,
                 "discount": rng.choices([0, 10, 20, 100], weights=[85, 8, 6, 1])[0]}

        def row(when, status):
            plan, monthly, yearly = PLANS[state["tier"]]
            unit = {"month": monthly, "year": yearly, "quarter": monthly * 3}[interval]
            out.write(f"{org},{sub},{when.strftime('%Y-%m-%dT%H:%M:%SZ')},{status},{plan},{interval},"
                      f"{unit},{state['quantity']},1000,{state['addon']},{state['discount']},USD\n")

        row(at, "trialing")
        at += timedelta(days=14)
        if at >= end:
            continue
        if rng.random() < 0.3:
            row(at, "canceled")
            continue
        row(at, "active")
        status = "active"
        while True:
            at += timedelta(days=rng.expovariate(1 / 9))
            if at >= end:
                break
            event = rng.random()
            if status == "canceled":
                if event < 0.15:
                    status = "active"
                    row(at, status)
                else:
                    break
            elif status == "past_due":
                status = "active" if event < 0.9 else "unpaid"
                row(at, status)
                if status == "unpaid":
                    at += timedelta(days=10)
                    if at < end:
                        status = "canceled"
                        row(at, status)
            elif event < 0.45:
                state["quantity"] = max(1, state["quantity"] + rng.choice([-1, 1, 1, 2]))
                row(at, status)
            elif event < 0.6:
                state["addon"] = max(0, state["addon"] + rng.choice([-1, 1, 1]))
                row(at, status)
            elif event < 0.7 and state["tier"] < 2:
                state["tier"] += 1
                row(at, status)
            elif event < 0.75 and state["tier"] > 0:
                state["tier"] -= 1
                row(at, status)
            elif event < 0.85:
                status = "past_due"
                row(at, status)
            elif event < 0.86:
                status = "canceled"
                row(at, status)


if __name__ == "__main__":
    main()
