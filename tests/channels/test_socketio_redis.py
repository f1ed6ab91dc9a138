"""socket.io between replicas: each Redis database of a scale-out has its own pub/sub channel
(Redis's pub/sub ignores the database number, so two scale-outs on one Redis would otherwise
deliver each other's replies)."""

from __future__ import annotations

import asyncio
import pickle

import pytest
from redis import asyncio as aioredis
from socketio import AsyncServer

from channels.socketio import REDIS_CHANNEL, redis_channel, share_between_replicas
from scripts.servers import RedisServer


def test_each_database_has_its_own_channel():
    assert redis_channel("redis://127.0.0.1:6379/2") == f"{REDIS_CHANNEL}-2"
    assert redis_channel("redis://127.0.0.1:6379/3") == f"{REDIS_CHANNEL}-3"
    assert redis_channel("redis://127.0.0.1:6379") == f"{REDIS_CHANNEL}-0"
    assert redis_channel("redis://:secret@10.0.0.5:6380/0") == f"{REDIS_CHANNEL}-0"


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def test_replicas_of_one_database_hear_each_other_and_no_one_else(redis):
    base = f"redis://127.0.0.1:{redis.port}"

    async def scenario() -> list[dict]:
        client = aioredis.Redis.from_url(f"{base}/0")
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(redis_channel(f"{base}/2"))  # what replicas on db 2 listen to
        same, other = AsyncServer(async_mode="asgi"), AsyncServer(async_mode="asgi")
        share_between_replicas(same, f"{base}/2")
        share_between_replicas(other, f"{base}/3")
        await other.manager.emit("bot_uttered", {"text": "其他部署"}, namespace="/", room="r")
        await same.manager.emit("bot_uttered", {"text": "本部署"}, namespace="/", room="r")
        heard = []
        deadline = asyncio.get_running_loop().time() + 5
        while asyncio.get_running_loop().time() < deadline and not heard:
            message = await pubsub.get_message(timeout=0.5)
            if message:
                heard.append(pickle.loads(message["data"]))
        await asyncio.sleep(0.3)  # anything from the other database would have arrived by now
        while message := await pubsub.get_message(timeout=0.2):
            heard.append(pickle.loads(message["data"]))
        await pubsub.reset()
        await client.close()
        return heard

    heard = asyncio.run(scenario())
    assert [m["data"] for m in heard] == [{"text": "本部署"}]
