"""The services' /docs and /redoc pages load nothing from outside the server (no CDN)."""

from __future__ import annotations

import re

import httpx

__all__ = ["assert_docs_are_served_offline"]


def assert_docs_are_served_offline(client: httpx.Client) -> None:
    """Every script, stylesheet and icon the pages name is a path on this server, and is there."""
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        assets = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]""", response.text)
        assets += re.findall(r"""url:\s*['"]([^'"]+)['"]""", response.text)  # the OpenAPI URL
        assert assets, page
        assert not [a for a in assets if "://" in a or a.startswith("//")], (page, assets)
        for asset in assets:
            got = client.get(asset)
            assert got.status_code == 200, (page, asset)
            assert len(got.content) > 100, (page, asset)
