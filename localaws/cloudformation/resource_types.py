"""Resource types we add to moto's CloudFormation (`CloudFormationModel` subclasses of our own).

moto finds a template's resource models by scanning `CloudFormationModel` subclasses and caches
the result on first use: a model defined after that is only seen once the caches are dropped.
"""

from __future__ import annotations

from moto.cloudformation import parsing


def refresh() -> None:
    """Make moto's CloudFormation see every `CloudFormationModel` subclass defined so far."""
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
