"""Sample data for `madoguchi demo`: the center's programme, a few citizens and two staff members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from storage.events import EventDraft


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    note: str = ""


CITIZENS = (
    Person("U_DEMO_HANAKO", "山田 花子", "地域で子ども食堂を始めたい"),
    Person("U_DEMO_KEN", "佐藤 健", "NPO法人の代表"),
    Person("U_DEMO_MISAKI", "鈴木 美咲", "大学のボランティアサークル"),
)

STAFF = (
    Person("U_DEMO_TANAKA", "田中 さくら", "センタースタッフ"),
    Person("U_DEMO_SASAKI", "佐々木 誠", "協働コーディネーター"),
)

VENUE = "横浜市市民協働推進センター"

# (days from today, start, end, kind, title, venue, capacity, description)
_PROGRAMME: tuple[tuple[int, time, time, str, str, str, int | None, str], ...] = (
    (
        4,
        time(18, 30),
        time(20, 0),
        "salon",
        "ミズベサロン「川辺でつながる市民活動」",
        f"{VENUE} スペースA",
        30,
        "気軽に集まって、活動のことを話しましょう。",
    ),
    (
        8,
        time(14, 0),
        time(16, 0),
        "npo-seminar",
        "NPO入門セミナー",
        f"{VENUE} 会議室",
        40,
        "NPO法人の仕組みと設立の流れを学びます。",
    ),
    (
        11,
        time(13, 30),
        time(16, 30),
        "consultation-session",
        "市民協働相談会（協働コーディネーター）",
        f"{VENUE} 相談ブース",
        4,
        "協働コーディネーターが個別にご相談に応じます（予約制・1枠40分）。",
    ),
    (
        15,
        time(18, 30),
        time(20, 30),
        "seminar",
        "市民活動基礎セミナー「団体の会計入門」",
        f"{VENUE} 会議室",
        30,
        "小さな団体の会計と報告書づくり。",
    ),
    (
        18,
        time(13, 0),
        time(16, 0),
        "expert-session",
        "士業相談会（税理士・社会保険労務士）",
        f"{VENUE} 相談ブース",
        8,
        "税務・労務の個別相談（予約制・1枠40分）。",
    ),
    (
        22,
        time(15, 0),
        time(17, 0),
        "network-meeting",
        "ネットワーク会議（18区区民活動支援センター）",
        "横浜市役所 会議室",
        None,
        "各区の区民活動支援センターとの情報交換。",
    ),
    (
        33,
        time(13, 0),
        time(17, 0),
        "symposium",
        "未来創発シンポジウム",
        "横浜市役所 アトリウム",
        200,
        "市民・企業・大学・行政がともに未来の横浜を語ります。",
    ),
)


# Consultation sessions are booked by time slot: (slots per advisor, minutes, break, advisors).
_SLOTS = {
    "consultation-session": (4, 40, 5, ""),
    "expert-session": (4, 40, 5, "税理士、社会保険労務士"),
}


def programme(now: datetime, tz: tzinfo) -> list[EventDraft]:
    """The center's upcoming events, dated from today in the center's timezone."""
    today = now.astimezone(tz).date()
    drafts = []
    for days, start, end, kind, title, venue, capacity, description in _PROGRAMME:
        day = today + timedelta(days=days)
        starts = datetime.combine(day, start, tz)
        slot_count, slot_minutes, slot_break, advisors = _SLOTS.get(kind, (0, 0, 0, ""))
        drafts.append(
            EventDraft(
                uid=f"demo-{kind}-{days}",
                kind=kind,
                title=title,
                starts_at=starts,
                ends_at=datetime.combine(day, end, tz),
                venue=venue,
                capacity=capacity,
                description=description,
                registration_deadline=starts - timedelta(days=1),
                # The network meeting is for the ward centers (notices), not for citizens to sign up.
                public=kind != "network-meeting",
                slot_count=slot_count,
                slot_minutes=slot_minutes,
                slot_break=slot_break,
                slot_advisors=advisors,
            )
        )
    return drafts
