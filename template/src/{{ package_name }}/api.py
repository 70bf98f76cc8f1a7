"""The public API: which feature routers make up each version.

A new version starts as a copy of the latest list; replace only the routers whose contract changes.
"""

from .about.router import router_v1 as about_v1
from .about.router import router_v2 as about_v2
from .core.versioning import VersionedRouters

VERSIONS: VersionedRouters = {
    "1": [about_v1],
    "2": [about_v2],
}
