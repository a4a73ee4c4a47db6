"""The extension point: operations the local stack answers itself instead of passing to moto.

A handler takes an `ApiCall` and returns the operation's output as a dict (or raises `AwsError`);
the wire layer serializes it in the caller's protocol. Handler modules are declared here, one per
service, each beside its `models` module (moto's layout).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

EXTENSION_MODULES = (
    "localaws.ecs.responses",
    "localaws.featurestore.responses",
    "localaws.personalize.responses",
    "localaws.sagemaker.responses",
)
# Corrections of moto's own models, applied once per process: "module:function".
MOTO_PATCHES = (
    "localaws.cloudformation.models:install",
    "localaws.cloudwatch.models:install",
    "localaws.cloudwatch.alarms:install",
    "localaws.sagemaker.models:install",
)
# Per-service state, one instance per (account, region), created on first use: "module:Class".
BACKEND_CLASSES = {
    "ecs": "localaws.ecs.models:EcsTaskBackend",
    "sagemaker-featurestore-runtime": "localaws.featurestore.models:FeatureStoreBackend",
    "sagemaker-training": "localaws.sagemaker.training:TrainingBackend",
    "sagemaker-endpoints": "localaws.sagemaker.endpoints:EndpointBackend",
    "personalize": "localaws.personalize.models:PersonalizeBackend",
}

Handler = Callable[[Any], dict[str, Any]]
HANDLERS: dict[tuple[str, str], Handler] = {}


def handles(service: str, operation: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        HANDLERS[(service, operation)] = func
        return func

    return register


def load_extensions() -> dict[tuple[str, str], Handler]:
    for patch in MOTO_PATCHES:
        module, _, name = patch.partition(":")
        getattr(importlib.import_module(module), name)()
    for module in EXTENSION_MODULES:
        importlib.import_module(module)
    return HANDLERS


def backend_class(service: str) -> type:
    module, _, name = BACKEND_CLASSES[service].partition(":")
    return getattr(importlib.import_module(module), name)
