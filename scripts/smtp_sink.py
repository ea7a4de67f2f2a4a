"""A local SMTP sink for tests: accepts every message over real SMTP (aiosmtpd)
and stores it, decoded, as one JSON file per message in a directory.
Recipients at refused.test are refused for good (550), those at busy.test
for now (451), as real mail servers do.

Usage: smtp_sink.py DIRECTORY PORT
Prints "ready" once it listens.
"""
import asyncio
import email
import email.policy
import json
import pathlib
import sys
import time

from aiosmtpd.controller import Controller


class Store:
    def __init__(self, directory: pathlib.Path):
        self.directory = directory
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        domain = address.rsplit("@", 1)[-1].lower()
        if domain == "refused.test":
            return "550 5.1.1 mailbox unavailable"
        if domain == "busy.test":
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        self.count += 1
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(message["subject"]),
            "content_type": message.get_content_type(),
            "text": text.get_content() if text else None,
            "html": html.get_content() if html else None,
        }
        name = f"{time.time_ns()}-{self.count}.json"
        (self.directory / name).write_text(json.dumps(record))
        return "250 OK"


def main():
    directory = pathlib.Path(sys.argv[1])
    directory.mkdir(parents=True, exist_ok=True)
    controller = Controller(Store(directory), hostname="127.0.0.1", port=int(sys.argv[2]))
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
