"""Toolsets: a small protocol for "a set of tools you can list, resolve and call", and views over it.

A `armorer_ray.Toolbox` owns tools and runs them through its pipeline. A view changes what is offered without
a second way to run anything: `FilteredToolset` hides tools, `RenamedToolset` / `PrefixedToolset` rename
them, `CombinedToolset` offers several sets as one, and `armorer_ray.tenancy.TenantView` is one tenant's
window. Each is a small frozen dataclass overriding one or two methods of `WrapperToolset`; every listing
(``ids``, ``to_json``, ``query``) and call form (``execute``, ``execute_sync``, ``stream``) comes from
`ToolsetView`, and views nest.

Example:
    >>> from armorer_ray import Toolbox
    >>> from armorer_ray.testing import mock_tool
    >>> box = Toolbox([mock_tool("search"), mock_tool("delete", dangerous=True)])
    >>> offered = PrefixedToolset(FilteredToolset(box, lambda t: not t.is_dangerous), prefix="crm")
    >>> [t.name for t in offered.tools()], offered.execute_sync({"name": "crm_delete"}).error.category
    (['crm_search'], 'not_found')
"""

from armorer_ray.toolsets.base import Toolset, ToolsetView
from armorer_ray.toolsets.combined import CombinedToolset
from armorer_ray.toolsets.filtered import FilteredToolset
from armorer_ray.toolsets.renamed import PrefixedToolset, RenamedToolset
from armorer_ray.toolsets.wrapper import WrapperToolset

__all__ = [
    "CombinedToolset",
    "FilteredToolset",
    "PrefixedToolset",
    "RenamedToolset",
    "Toolset",
    "ToolsetView",
    "WrapperToolset",
]
