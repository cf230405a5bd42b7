"""botocore's service models, loaded once per process, with the traits an older
protocol of a service needs laid over them.

Some services moved from the query protocol to awsJson (SQS in 2023) and their
current models dropped the query-only traits: the XML/form names of members
(``locationName``: ``SendMessageBatchRequestEntry.1.Id`` instead of ``Entries.1.Id``),
the XML namespace and the ``<OpResult>`` wrapper. A ``QueryTraits`` puts them back,
so that one model drives both protocols.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

__all__ = ["QueryTraits", "load_model", "operation", "raw_model"]


@dataclass(frozen=True, slots=True)
class QueryTraits:
    """The query-protocol traits of a service whose model no longer carries them.

    ``names``: pairs of ``"Shape.Member"`` and its serialized name (``locationName``); for a list's
    element ``"ListShape.member"``, for a map's parts ``"MapShape.key"``/``"MapShape.value"``.
    Every operation's output gets the ``<Operation>Result`` wrapper the query protocol uses.
    """

    xml_namespace: str
    names: tuple[tuple[str, str], ...] = ()


@functools.cache
def _loader() -> Loader:
    return Loader()


def raw_model(service: str, traits: QueryTraits | None = None) -> dict[str, Any]:
    """The service's ``service-2`` model as a plain dict (a fresh copy), with ``traits``
    applied. Raises KeyError for a name that is not a shape or member of the model."""
    data: dict[str, Any] = copy.deepcopy(_loader().load_service_model(service, "service-2"))
    if traits is None:
        return data
    shapes = data["shapes"]
    data["metadata"]["xmlNamespace"] = traits.xml_namespace
    for name, operation_data in data["operations"].items():
        if "output" in operation_data:
            operation_data["output"]["resultWrapper"] = f"{name}Result"
    for path, location in traits.names:
        shape_name, _, member = path.partition(".")
        shape = shapes[shape_name]
        if member in ("member", "key", "value") and shape["type"] in ("list", "map"):
            target = shape[member]
        else:
            target = shape["members"][member]
        target["locationName"] = location
    return data


@functools.cache
def load_model(service: str, traits: QueryTraits | None = None) -> ServiceModel:
    """botocore's model of ``service`` (``"sqs"``), with ``traits`` applied; cached."""
    return ServiceModel(raw_model(service, traits), service_name=service)


def operation(model: ServiceModel, name: str) -> OperationModel | None:
    """The operation called ``name``, or None when the model has none."""
    if name not in model.operation_names:
        return None
    return model.operation_model(name)
