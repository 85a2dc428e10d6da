"""Serve the API: `python -m app` (host, port and everything else from the `SG_*` variables)."""

from __future__ import annotations

import logging

import uvicorn

from app.main import create_app
from app.server import server_config
from app.settings import Settings


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.Server(server_config(create_app(settings), settings)).run()


if __name__ == "__main__":
    main()
