"""MongoDB access (sync pymongo, always called from worker threads)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import PyMongoError

from .settings import Settings

log = logging.getLogger("crawler.storage")


class StorageUnavailable(Exception):
    pass


class Storage:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._client: Optional[MongoClient] = None
        self._indexes_ok = False
        self._ping_task: Optional[asyncio.Task] = None
        if settings.mongodb_uri:
            t = settings.mongo_timeout_ms
            # Does not connect yet: startup never blocks on MongoDB.
            self._client = MongoClient(
                settings.mongodb_uri,
                serverSelectionTimeoutMS=t,
                connectTimeoutMS=t,
                socketTimeoutMS=max(t * 5, 10000),
                appname="huskit-crawler",
                tz_aware=True,
            )

    @property
    def configured(self) -> bool:
        return self._client is not None

    def _pages(self):
        if self._client is None:
            raise StorageUnavailable("MONGODB_URI is not set")
        return self._client[self._settings.mongodb_database]["pages"]

    def _ensure_indexes(self) -> None:
        if self._indexes_ok:
            return
        try:
            self._pages().create_index([("url", ASCENDING), ("crawled_at", DESCENDING)], name="url_crawled_at")
            self._indexes_ok = True
        except PyMongoError as exc:  # not fatal: retried on the next write
            log.warning("could not create index: %s", type(exc).__name__)

    # -- blocking helpers (run in threads) --
    def _ping(self) -> None:
        if self._client is None:
            raise StorageUnavailable("MONGODB_URI is not set")
        self._client.admin.command("ping")

    def _insert(self, doc: dict) -> str:
        self._ensure_indexes()
        return str(self._pages().insert_one(doc).inserted_id)

    def _find(self, oid: ObjectId) -> Optional[dict]:
        return self._pages().find_one({"_id": oid})

    # -- async API --
    async def ping(self, timeout: float) -> bool:
        """True if MongoDB answers a ping within ``timeout`` seconds.

        Concurrent callers share one in-flight ping, so a flood of health checks
        against a dead server cannot exhaust the thread pool.
        """
        if self._client is None:
            return False
        if self._ping_task is None or self._ping_task.done():
            self._ping_task = asyncio.ensure_future(asyncio.to_thread(self._ping))
            # Mark the result as retrieved even if every waiter timed out.
            self._ping_task.add_done_callback(lambda t: t.cancelled() or t.exception())
        try:
            await asyncio.wait_for(asyncio.shield(self._ping_task), timeout)
            return True
        except Exception:
            return False

    async def insert(self, doc: dict) -> str:
        try:
            return await asyncio.to_thread(self._insert, doc)
        except (PyMongoError, StorageUnavailable) as exc:
            raise StorageUnavailable(type(exc).__name__) from None

    async def find(self, oid: ObjectId) -> Optional[dict[str, Any]]:
        try:
            return await asyncio.to_thread(self._find, oid)
        except (PyMongoError, StorageUnavailable) as exc:
            raise StorageUnavailable(type(exc).__name__) from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
