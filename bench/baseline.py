"""The baseline: a bare FastAPI GET, served by uvicorn with exactly the options `serve` uses."""

import argparse

import uvicorn
from fastapi import FastAPI

from entrypoints.cli import server_options
from entrypoints.settings import load_settings

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, **server_options(load_settings()))
