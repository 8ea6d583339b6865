"""The web graph builder: a Starlette app and page to run, watch, debug, approve and build workflows.

```python
from armorer_ray.ui import create_app
import uvicorn

uvicorn.run(create_app([workflow], toolbox=toolbox), port=8000)   # needs: pip install 'armorer-ray[web]'
```

The page is prebuilt JavaScript in ``armorer_ray/ui/static`` (sources in ``ui-src/``). The server-side layout
(`layered_layout`), SVG (`workflow_svg`) and event feed (`EventFeed`) need no extra; only `create_app` imports
Starlette, on first use. See docs/ui.md.
"""

from armorer_ray.ui.app import create_app
from armorer_ray.ui.layout import Box, GraphLayout, layered_layout
from armorer_ray.ui.live import RUN_EVENTS, EventFeed, event_json
from armorer_ray.ui.svg import workflow_layout, workflow_svg

__all__ = [
    "RUN_EVENTS",
    "Box",
    "EventFeed",
    "GraphLayout",
    "create_app",
    "event_json",
    "layered_layout",
    "workflow_layout",
    "workflow_svg",
]
