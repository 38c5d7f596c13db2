"""``python -m services.notify.twilio_standin [--port N]``: run the stand-in under uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from services.notify.settings import get_notify_settings
from services.notify.twilio_standin.app import create_standin_app


def main() -> None:
    settings = get_notify_settings()
    parser = argparse.ArgumentParser(description="Local Twilio stand-in (Messages, Calls, signed status callbacks)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.standin_port)
    args = parser.parse_args()
    app = create_standin_app({settings.twilio_account_sid: settings.twilio_auth_token})
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
