"""The ward civic-activity support centers (区民活動支援センター) that receive network-meeting notices.

Rows follow configuration (`[[wards]]`): a Slack channel always as configured; a LINE group as
configured when the configuration names one, else as linked with `madoguchi wards link`. A LINE group
belongs to one ward at most: an answer from it counts as that ward's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from storage.base import Repository, from_row

log = logging.getLogger("madoguchi.storage")


@dataclass(frozen=True)
class WardCenterRecord:
    id: int
    ward: str
    name: str
    slack_channel: str | None
    line_group_id: str | None


@dataclass(frozen=True)
class WardCenterSpec:
    """A ward center as configured."""

    ward: str
    name: str
    slack_channel: str | None = None
    line_group_id: str | None = None


class WardCenterRepository(Repository):
    async def sync(self, specs: Sequence[WardCenterSpec]) -> None:
        """Bring the table in line with configuration; a LINE group id learned from a join is kept. A
        group the configuration names for a ward is taken from any other ward holding it (linked by
        mistake, or a ward no longer configured): the configuration wins, one group never has two wards."""
        for spec in specs:
            if spec.line_group_id:
                losers = await self._all(
                    "UPDATE ward_centers SET line_group_id = NULL WHERE line_group_id = ? AND ward <> ?"
                    " RETURNING id",
                    (spec.line_group_id, spec.ward),
                )
                for row in losers:
                    log.warning(
                        "wards.line_group_taken",
                        extra={"fields": {"ward": row["id"], "reason": "configured"}},
                    )
            await self._run(
                "INSERT INTO ward_centers (ward, name, slack_channel, line_group_id) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (ward) DO UPDATE SET name = excluded.name, slack_channel = excluded.slack_channel,"
                " line_group_id = coalesce(excluded.line_group_id, ward_centers.line_group_id)",
                (spec.ward, spec.name, spec.slack_channel or None, spec.line_group_id or None),
            )

    async def all(self) -> list[WardCenterRecord]:
        rows = await self._all("SELECT * FROM ward_centers ORDER BY id")
        return [from_row(WardCenterRecord, r) for r in rows]

    async def configured(self, wards: Sequence[str]) -> list[WardCenterRecord]:
        """The rows of these wards (configuration order); rows of wards no longer configured are left out."""
        rows = {r.ward: r for r in await self.all()}
        return [rows[w] for w in wards if w in rows]

    async def get(self, ward_center_id: int) -> WardCenterRecord | None:
        row = await self._one("SELECT * FROM ward_centers WHERE id = ?", (ward_center_id,))
        return None if row is None else from_row(WardCenterRecord, row)

    async def on_line_group(self, group_id: str) -> list[WardCenterRecord]:
        """The wards holding this group: one at most, unless rows from before `sync` took groups away
        from other wards still share it (callers must not pick one)."""
        rows = await self._all("SELECT * FROM ward_centers WHERE line_group_id = ? ORDER BY id", (group_id,))
        return [from_row(WardCenterRecord, r) for r in rows]

    async def by_ward(self, ward: str) -> WardCenterRecord | None:
        row = await self._one("SELECT * FROM ward_centers WHERE ward = ?", (ward,))
        return None if row is None else from_row(WardCenterRecord, row)

    async def set_line_group(self, ward: str, group_id: str | None) -> None:
        await self._run("UPDATE ward_centers SET line_group_id = ? WHERE ward = ?", (group_id, ward))
