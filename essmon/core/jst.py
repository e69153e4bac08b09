"""Japan Standard Time, the one home of ``JST`` in the service.

Days and months (the energy rollups, the warranty's dates, the charts, the certificate) are
Japanese calendar days and months whatever ``ESSMON_TIME_ZONE`` says: changing that
setting must not move the boundaries of what is already stored. Japan has had no daylight
saving time since 1951, so the offset is fixed and raw SQL can use it as is.

The simulator (``essmon.simulator``) keeps its own fixed-offset ``JST``: it is a client
that imports nothing of the service.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")
JST_OFFSET = 9 * 3600  # seconds east of UTC
