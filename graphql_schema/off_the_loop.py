"""Resolvers that do blocking database work run it off the event loop.

A synchronous resolver wrapped here runs on a worker thread through its request's
``Context.run_sync`` (one call at a time per request), so that while it waits for the database
the event loop answers other requests. Root queries and nested fields use ``database_field``, root
mutations ``graphql_schema.mutations.base.mutation``; DataLoaders read through ``Context.read``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import strawberry


def off_the_loop(resolver: Callable[..., Any]) -> Callable[..., Any]:
    """A synchronous resolver as an asynchronous one that runs it on a worker thread, through
    its request's context (``Context.run_sync``). Asynchronous resolvers are returned as they
    are: they await their own work, off the loop."""
    if inspect.iscoroutinefunction(resolver):
        return resolver
    if "info" not in inspect.signature(resolver).parameters:
        raise TypeError(f"{resolver.__qualname__} must take `info` to run off the event loop")

    @functools.wraps(resolver)
    async def resolve(*args: Any, **kwargs: Any) -> Any:
        # strawberry passes `info` by name
        return await kwargs["info"].context.run_sync(resolver, *args, **kwargs)

    return resolve


def database_field(**kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """``@strawberry.field(...)`` for a resolver that reads the database: it runs off the
    event loop (``off_the_loop``)."""

    def decorate(resolver: Callable[..., Any]) -> Any:
        return strawberry.field(resolver=off_the_loop(resolver), **kwargs)

    return decorate
