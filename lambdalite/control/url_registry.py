"""The URL registry: every function URL config, in memory and written through to a ``UrlStore``.

One config per qualifier: the unqualified function's (under ``$LATEST``) or an
alias's (see ``control.function_urls`` for the request rules). ``url_by_id`` is
what serving a request on a URL looks up. A config goes with its alias
(``AliasDeleted``) or its function (``FunctionDeleted``); configs whose function
or alias no longer exists (left by a crash between the two writes) are removed
when the registry is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import MappingProxyType

from lambdalite.control import function_urls as url_rules
from lambdalite.control.bus import EventBus
from lambdalite.control.changes import AliasDeleted, FunctionDeleted
from lambdalite.control.function_urls import UrlInput
from lambdalite.control.paging import page
from lambdalite.control.registry import FunctionRegistry
from lambdalite.errors import ResourceNotFound
from lambdalite.models import LATEST, FunctionUrlConfig, url_timestamp
from lambdalite.store.urls import UrlStore


class UrlRegistry:
    def __init__(self, store: UrlStore, functions: FunctionRegistry, bus: EventBus) -> None:
        self._store = store
        self._functions = functions
        self._urls: dict[str, dict[str, FunctionUrlConfig]] = {}
        """name -> qualifier ($LATEST for the unqualified function) -> URL config."""
        self._url_ids: dict[str, FunctionUrlConfig] = {}
        """url-id -> URL config: what serving a request on a function URL looks up."""
        for url in store.all_urls():
            if functions.exists(url.function_name, url.qualifier):
                self._urls.setdefault(url.function_name, {})[url.qualifier] = url
                self._url_ids[url.url_id] = url
            else:
                store.delete_urls(url.function_name, url.qualifier)
        bus.subscribe(FunctionDeleted, lambda event: self._forget(event.name, None))
        bus.subscribe(AliasDeleted, lambda event: self._forget(event.alias.function_name, event.alias.name))

    def url_by_id(self, url_id: str) -> FunctionUrlConfig | None:
        """The hot-path lookup of a function URL request: the config or None."""
        return self._url_ids.get(url_id)

    def url_config(self, name: str, qualifier: str) -> FunctionUrlConfig:
        """The URL config of the function (``qualifier`` ``$LATEST``) or an alias."""
        if not self._functions.exists(name):
            raise ResourceNotFound(url_rules.CONFIG_NOT_FOUND)
        url = self._urls.get(name, {}).get(qualifier)
        if url is None:
            raise ResourceNotFound(url_rules.CONFIG_NOT_FOUND)
        return url

    def list_url_configs(
        self, name: str, marker: str | None, max_items: int
    ) -> tuple[Sequence[FunctionUrlConfig], str | None]:
        """The function's URL configs ordered by qualifier (the function's first), paged
        like ``FunctionRegistry.list``."""
        if not self._functions.exists(name):
            raise ResourceNotFound(url_rules.FUNCTION_NOT_FOUND)
        urls = self._urls.get(name, {})
        return page(sorted(urls), marker, max_items, urls.__getitem__)

    def create_url_config(self, name: str, qualifier: str, request: UrlInput) -> FunctionUrlConfig:
        self._url_target(name, qualifier)
        existing = self._urls.get(name, {}).get(qualifier)
        if existing is not None:
            raise url_rules.exists(existing.function_arn(self._functions.arn_prefix))
        assert request.auth_type is not None  # required by the model, checked at the edge
        now = url_timestamp()
        url_id = url_rules.new_url_id()
        while url_id in self._url_ids:
            url_id = url_rules.new_url_id()
        url = FunctionUrlConfig(
            function_name=name,
            qualifier=qualifier,
            url_id=url_id,
            auth_type=request.auth_type,
            invoke_mode=request.invoke_mode or "BUFFERED",
            cors=request.cors or MappingProxyType({}),
            creation_time=now,
            last_modified_time=now,
        )
        return self._commit(url)

    def update_url_config(self, name: str, qualifier: str, request: UrlInput) -> FunctionUrlConfig:
        self._url_target(name, qualifier)
        current = self._urls.get(name, {}).get(qualifier)
        if current is None:
            raise ResourceNotFound(url_rules.CONFIG_NOT_FOUND)
        url = dataclasses.replace(
            current,
            auth_type=request.auth_type or current.auth_type,
            invoke_mode=request.invoke_mode or current.invoke_mode,
            cors=current.cors if request.cors is None else request.cors,
            last_modified_time=url_timestamp(),
        )
        return self._commit(url)

    def delete_url_config(self, name: str, qualifier: str) -> None:
        url = self.url_config(name, qualifier)
        self._store.delete_urls(name, qualifier)
        del self._urls[name][qualifier]
        self._url_ids.pop(url.url_id, None)

    def _url_target(self, name: str, qualifier: str) -> None:
        """AWS's 404 when the function, or the alias a URL is for, does not exist."""
        if not self._functions.exists(name) or (
            qualifier != LATEST and self._functions.find_alias(name, qualifier) is None
        ):
            raise ResourceNotFound(url_rules.FUNCTION_NOT_FOUND)

    def _commit(self, url: FunctionUrlConfig) -> FunctionUrlConfig:
        self._store.put_url(url)
        self._urls.setdefault(url.function_name, {})[url.qualifier] = url
        self._url_ids[url.url_id] = url
        return url

    def _forget(self, name: str, qualifier: str | None) -> None:
        """Drop the function's URL configs (or one alias's) whose target is gone.
        Forget first: if the store write fails, the orphan row goes at the next start."""
        urls = self._urls.get(name)
        if not urls or (qualifier is not None and qualifier not in urls):
            return
        gone = list(urls.values()) if qualifier is None else [urls[qualifier]]
        for url in gone:
            del urls[url.qualifier]
            self._url_ids.pop(url.url_id, None)
        if not urls:
            del self._urls[name]
        self._store.delete_urls(name, qualifier)
