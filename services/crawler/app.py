"""Entry point: `uvicorn app:app` (production CMD) or `python app.py` (local dev)."""

from crawler_app.app import create_app

app = create_app()  # settings are read from the environment in the lifespan, once

if __name__ == "__main__":
    import uvicorn

    from crawler_app.settings import Settings

    settings = Settings.from_env()
    uvicorn.run(
        "app:app",
        host=settings.host,
        port=settings.port,
        reload=settings.reload,  # only when NODE_ENV=development (the default, as in the plan)
    )
