"""Country of an IP address from a MaxMind-format database (GeoLite2/GeoIP2 Country or City).

The database is a local file the operator provides (``CCAUDIT_GEOIP_DB``); nothing is downloaded
and no lookup leaves the deployment (R8). Without a database the country is ''.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import maxminddb


class CountryLookup:
    def __init__(self, path: Path | None) -> None:
        self._reader: Any = maxminddb.open_database(str(path)) if path is not None else None

    def country(self, ip: str) -> str:
        """ISO 3166-1 alpha-2 code, or '' when unknown."""
        if self._reader is None or not ip:
            return ""
        try:
            record = self._reader.get(ip)
        except ValueError:  # not an IP address
            return ""
        if not isinstance(record, dict):
            return ""
        country = record.get("country") or record.get("registered_country") or {}
        code = country.get("iso_code", "") if isinstance(country, dict) else ""
        return code if isinstance(code, str) and len(code) == 2 else ""

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
