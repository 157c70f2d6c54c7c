"""Configuration: a TOML file read into typed, validated settings.

Every problem is reported as one `ConfigError` naming the file, the key and what is wrong, so
`madoguchi check-config` can print it and exit 2. Unknown keys are errors: a typo must not pass
silently and leave a default in force.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import tomllib
from datetime import date, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from flows.business_hours import BusinessCalendar, parse_hours
from flows.intake import MAX_CATEGORIES
from flows.matching import number
from flows.validators import fold

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PHONE = re.compile(r"0[0-9]+(-[0-9]+)*")


class ConfigError(Exception):
    """A configuration problem, worded for the person who edits the file."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CenterSettings(_Section):
    name: str = "横浜市市民協働推進センター"
    timezone: str = "Asia/Tokyo"
    # Promised in the confirmation a citizen receives after a consultation.
    answer_within_business_days: int = Field(default=3, ge=1, le=30)
    # Contact details shown in ヘルプ, the fallback answer, the out-of-hours notice, keyword answers and
    # the rich menu's お問い合わせ tile; "" leaves a detail out.
    phone: str = Field(default="", max_length=20)
    address: str = Field(default="", max_length=200)
    hours: str = Field(default="", max_length=200)
    website: str = Field(default="", max_length=300)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as 'Asia/Tokyo')") from None
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        digits = value.replace("-", "")
        if value and not (
            _PHONE.fullmatch(value) and digits.isascii() and digits.isdigit() and 10 <= len(digits) <= 11
        ):
            raise ValueError(
                f"expected digits and hyphens, 10 or 11 digits, e.g. 045-123-4567 (got {value!r})"
            )
        return value

    @field_validator("website")
    @classmethod
    def _website(cls, value: str) -> str:
        if value and (not value.startswith("https://") or len(value) <= len("https://") or " " in value):
            raise ValueError(f"expected an https:// address (got {value!r})")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Webhook bodies above this size are refused with 413 before they are read into memory.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    shutdown_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # A connection that has not finished sending its request headers (or sits idle between
    # requests) this long is closed, so slow clients cannot hold connections open.
    idle_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    # A request body that has not fully arrived this long after its headers is answered 408.
    body_timeout_seconds: float = Field(default=10.0, gt=0, le=600)


class StorageSettings(_Section):
    path: str = "var/madoguchi.sqlite3"
    # How long a write waits for another connection's lock (the bot, a command, a backup) before it
    # fails. Bounded: a typo such as 50000000 would make every locked write hang for hours.
    busy_timeout_ms: int = Field(default=5000, ge=0, le=60_000)


class BackupSettings(_Section):
    # Nightly online copies of the database (SQLite's backup API: safe while the bot runs) go into
    # this folder, relative to the configuration file's folder; "" turns the nightly backup off
    # (`madoguchi backup` then needs --to). Put it on another disk than [storage] path.
    folder: str = "var/backups"
    # How many nightly copies to keep; older ones are deleted after a successful backup.
    keep: int = Field(default=14, ge=1, le=3650)
    # When, as HH:MM in [center] timezone.
    at: str = Field(default="03:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _no_trailing_slash(value: str) -> str:
    if value.endswith("/"):
        raise ValueError("must not end with '/' (the LINE SDK would request '//v2/...' and get 404)")
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


class LineSettings(_Section):
    channel_secret: str = Field(min_length=1)
    channel_access_token: str = Field(min_length=1)
    api_base_url: str = "https://api.line.me"
    data_api_base_url: str = "https://api-data.line.me"

    _check_api = field_validator("api_base_url", "data_api_base_url")(_no_trailing_slash)


class SlackSettings(_Section):
    mode: Literal["socket", "http"] = "socket"
    bot_token: str = Field(min_length=1)
    app_token: str = ""
    signing_secret: str = ""
    api_base_url: str = "https://slack.com/api/"
    default_channel: str = Field(min_length=1)
    escalation_channel: str = ""
    reply_prefix: str = Field(default="返信:", min_length=1)
    staff: list[str] = Field(default_factory=list)
    # Slack accepts about one chat.postMessage per second per channel; posts are spaced this far apart.
    post_interval_seconds: float = Field(default=1.0, ge=0, le=60)
    # Failures that need a person are posted here (without personal data), once per cause per hour.
    ops_channel: str = ""
    # Socket Mode disconnected this long is such a failure.
    ops_disconnected_minutes: float = Field(default=5.0, gt=0, le=1440)
    # Staff channel for events: the day-before list of registrants (names) and questionnaire summaries;
    # "" = none. Personal data goes there: it must be a private channel of staff only.
    events_channel: str = ""

    @field_validator("api_base_url")
    @classmethod
    def _slack_base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        # slack_sdk joins method names onto the base, so it needs the trailing slash.
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _mode_needs_its_secret(self) -> SlackSettings:
        if self.mode == "socket" and not self.app_token:
            raise ValueError('app_token is required when mode = "socket"')
        if self.mode == "http" and not self.signing_secret:
            raise ValueError('signing_secret is required when mode = "http"')
        return self


class DeliverySettings(_Section):
    # Outgoing messages are retried on 5xx, 429 and timeouts with exponential backoff and jitter,
    # then dead-lettered and reported.
    max_attempts: int = Field(default=8, ge=1, le=50)
    base_delay_seconds: float = Field(default=1.0, gt=0, le=600)
    max_delay_seconds: float = Field(default=300.0, gt=0, le=86400)


class PrivacySettings(_Section):
    # Bodies of events that failed for good and of messages that were never delivered are kept this
    # many days (for `inbox retry` / `outbox retry`), then cleared. Handled and delivered ones are
    # cleared at once; the rows of handled events (kept to deduplicate retries) are deleted after it.
    purge_undelivered_after_days: int = Field(default=14, ge=1, le=365)
    # Closed cases lose their personal data (name, contact, texts) this many days after closing; the
    # number, category, dates and status stay for statistics. 3 years by default (a municipal record of
    # a consultation is commonly kept 3 years); at least 30 days, at most 10 years.
    anonymise_closed_after_days: int = Field(default=1095, ge=30, le=3650)
    # The privacy notice shown before every consultation says who runs the service, why the data is
    # used, who sees it (the city's 市民協働推進課, staff in Slack), how long it is kept and how to have it
    # deleted; its wording is `[privacy]` in flows/texts/ja.toml. Change notice_version whenever that
    # wording (or the policy) changes: each agreement is recorded with the version it was given to.
    notice_version: str = Field(default="1", min_length=1, max_length=40, pattern=r"^[0-9A-Za-z._-]+$")
    # The full privacy policy (https://); "" leaves the link out of the notice.
    policy_url: str = Field(default="", max_length=300)

    @field_validator("policy_url")
    @classmethod
    def _policy_url(cls, value: str) -> str:
        if value and (not value.startswith("https://") or len(value) <= len("https://") or " " in value):
            raise ValueError(f"expected an https:// address (got {value!r})")
        return value


class ConversationSettings(_Section):
    # A citizen who stops mid-flow is nudged once, then the flow is suspended and kept as a draft.
    nudge_after_minutes: int = Field(default=30, ge=1)
    expire_after_hours: int = Field(default=24, ge=1)
    keep_draft_days: int = Field(default=7, ge=1, le=365)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class BusinessHoursSettings(_Section):
    # Opening hours per weekday as "HH:MM-HH:MM"; "" means closed all day.
    monday: str = "09:00-17:00"
    tuesday: str = "09:00-17:00"
    wednesday: str = "09:00-17:00"
    thursday: str = "09:00-17:00"
    friday: str = "09:00-17:00"
    saturday: str = ""
    sunday: str = ""
    public_holidays_closed: bool = True
    # 年末年始 (December 29 to January 3) is closed every year.
    year_end_closed: bool = True
    closed_dates: list[date] = Field(default_factory=list)
    # An unclaimed case is mentioned in its thread after this many business minutes...
    unclaimed_mention_minutes: int = Field(default=60, ge=1)
    # ...and posted in [slack] escalation_channel after this many.
    escalate_after_minutes: int = Field(default=240, ge=1)

    @field_validator(*WEEKDAYS)
    @classmethod
    def _hours(cls, value: str) -> str:
        try:
            parse_hours(value)
        except ValueError as exc:
            raise ValueError(f'expected "HH:MM-HH:MM" or "": {exc}') from None
        return value

    @model_validator(mode="after")
    def _opens_some_day(self) -> BusinessHoursSettings:
        # A center that never opens would never read a consultation nor count a business minute.
        if not any(getattr(self, name).strip() for name in WEEKDAYS):
            days = ", ".join(WEEKDAYS)
            raise ValueError(f'every weekday is "" (closed): give opening hours to at least one of {days}')
        return self

    def calendar(self, tz: tzinfo) -> BusinessCalendar:
        hours = {}
        for index, name in enumerate(WEEKDAYS):
            window = parse_hours(getattr(self, name))
            if window is not None:
                hours[index] = window
        return BusinessCalendar(
            tz, hours, frozenset(self.closed_dates), self.public_holidays_closed, self.year_end_closed
        )


class Category(_Section):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    label: str = Field(min_length=1, max_length=40)
    # Slack channel id for this category's cases; empty means [slack] default_channel.
    channel: str = ""


def _unique_ids(items: list[Any], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"duplicate {what} id {item.id!r}")
        seen.add(item.id)


DEFAULT_CATEGORIES = [
    Category(id="general", label="総合相談"),
    Category(id="collaboration", label="協働の相談・提案"),
    Category(id="npo", label="NPOの設立・運営"),
    Category(id="professional", label="士業相談（税理士・社会保険労務士）"),
    Category(id="coordinator", label="市民協働相談会（協働コーディネーター）"),
    Category(id="other", label="その他"),
]


class ConsultationSettings(_Section):
    categories: list[Category] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES), min_length=1)
    # A citizen writing after their case was closed reopens it, if it was closed within this many days;
    # 0 turns this off (the message then gets the usual answer and is not kept).
    reopen_within_days: int = Field(default=30, ge=0, le=365)

    @field_validator("categories")
    @classmethod
    def _unique(cls, value: list[Category]) -> list[Category]:
        _unique_ids(value, "category")
        if len(value) > MAX_CATEGORIES:
            raise ValueError(
                f"at most {MAX_CATEGORIES} categories (citizens choose one on their phone, "
                f"in two pages of LINE quick replies); got {len(value)}"
            )
        return value


class EventKind(_Section):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    label: str = Field(min_length=1, max_length=40)


# The kind of the network meetings with the ward centers: staff can send such an event to the wards
# as a notice, and no questionnaire follows it unless configured.
NETWORK_MEETING = "network-meeting"

DEFAULT_EVENT_KINDS = [
    EventKind(id="salon", label="ミズベサロン"),
    EventKind(id="npo-seminar", label="NPO入門セミナー"),
    EventKind(id="seminar", label="市民活動基礎セミナー"),
    EventKind(id="symposium", label="未来創発シンポジウム"),
    EventKind(id="consultation-session", label="市民協働相談会"),
    EventKind(id="expert-session", label="士業相談会"),
    EventKind(id="fes", label="市民活動フェス"),
    EventKind(id="collab-space", label="コラボレーション＠スペース"),
    EventKind(id=NETWORK_MEETING, label="ネットワーク会議"),
    EventKind(id="other", label="その他"),
]


_REMINDER_OFFSET = re.compile(r"([1-9][0-9]{0,4})([mhd])")
_OFFSET_UNITS = {"m": 60, "h": 3600, "d": 86400}
MAX_REMINDER_OFFSET = timedelta(days=60)
MAX_REMINDER_OFFSETS = 5


def parse_reminder_offset(text: str) -> timedelta:
    """How long before an event's start a reminder goes out: "3d", "2h", "30m" (else ValueError)."""
    found = _REMINDER_OFFSET.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise ValueError(
            f'expected a number and a unit m, h or d, such as "3d", "2h" or "30m" (got {text!r})'
        )
    offset = timedelta(seconds=int(found.group(1)) * _OFFSET_UNITS[found.group(2)])
    if offset > MAX_REMINDER_OFFSET:
        raise ValueError(f"at most {MAX_REMINDER_OFFSET.days}d before the event (got {text!r})")
    return offset


MAX_QUESTIONS = 3
MAX_CHOICES_PER_QUESTION = 5
# A choice is a quick reply, whose label LINE shows in at most 20 characters.
MAX_CHOICE_LABEL = 20


class SurveyQuestion(_Section):
    text: str = Field(min_length=1, max_length=200)
    choices: list[str]

    @field_validator("choices")
    @classmethod
    def _choices(cls, value: list[str]) -> list[str]:
        if not 2 <= len(value) <= MAX_CHOICES_PER_QUESTION:
            raise ValueError(f"two to {MAX_CHOICES_PER_QUESTION} choices (got {len(value)})")
        seen: set[str] = set()
        for label in value:
            if not label.strip() or len(label) > MAX_CHOICE_LABEL:
                raise ValueError(f"each choice is 1 to {MAX_CHOICE_LABEL} characters (got {label!r})")
            if number(label, 999) is not None:
                raise ValueError(f"a choice cannot be a number (typed numbers pick by position): {label!r}")
            if fold(label) in seen:
                raise ValueError(f"two choices read the same: {label!r}")
            seen.add(fold(label))
        return value


DEFAULT_QUESTIONS = [
    SurveyQuestion(
        text="イベントの満足度を教えてください。", choices=["満足", "やや満足", "やや不満", "不満"]
    ),
    SurveyQuestion(
        text="また参加したいと思いますか？", choices=["ぜひ参加したい", "内容による", "参加しない"]
    ),
]


class QuestionnaireSettings(_Section):
    # After an event, those who had a seat (not the waitlisted, still following) get these questions on
    # LINE, one at a time; the answers are summed up for the events channel when it closes.
    enabled: bool = False
    # Event kinds (ids of [[events.kinds]]) it applies to; [] = every kind but network-meeting.
    kinds: list[str] = Field(default_factory=list)
    # How long after the event's end (its start when it has no end) it goes out ("2h", "30m", "1d").
    send_after: str = "2h"
    # How long after it went out answers are counted; then the summary is posted.
    close_after: str = "3d"
    # One to three questions, each with two to five choices.
    questions: list[SurveyQuestion] = Field(default_factory=lambda: list(DEFAULT_QUESTIONS))

    @field_validator("send_after", "close_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_reminder_offset(value)
        return value

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: list[SurveyQuestion]) -> list[SurveyQuestion]:
        if not 1 <= len(value) <= MAX_QUESTIONS:
            raise ValueError(f"one to {MAX_QUESTIONS} questions (got {len(value)})")
        return value

    @property
    def send_delay(self) -> timedelta:
        return parse_reminder_offset(self.send_after)

    @property
    def open_for(self) -> timedelta:
        return parse_reminder_offset(self.close_after)


class EventsSettings(_Section):
    kinds: list[EventKind] = Field(default_factory=lambda: list(DEFAULT_EVENT_KINDS), min_length=1)
    # How long before an event's start its registrants are reminded, unless the event says otherwise;
    # [] sends no reminders.
    reminder_offsets: list[str] = Field(default_factory=lambda: ["3d", "1d", "2h"])
    # When, the day before an event (HH:MM in [center] timezone), [slack] events_channel gets its list.
    digest_time: str = Field(default="10:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    questionnaire: QuestionnaireSettings = Field(default_factory=QuestionnaireSettings)

    @model_validator(mode="after")
    def _questionnaire_kinds(self) -> EventsSettings:
        known = {kind.id for kind in self.kinds}
        for kind in self.questionnaire.kinds:
            if kind not in known:
                raise ValueError(f"questionnaire.kinds: {kind!r} is not an [[events.kinds]] id")
        return self

    @property
    def questionnaire_kinds(self) -> list[str]:
        """The kinds the questionnaire applies to (all but network meetings unless configured)."""
        return self.questionnaire.kinds or [k.id for k in self.kinds if k.id != NETWORK_MEETING]

    @field_validator("kinds")
    @classmethod
    def _unique(cls, value: list[EventKind]) -> list[EventKind]:
        _unique_ids(value, "event kind")
        return value

    @field_validator("reminder_offsets")
    @classmethod
    def _offsets(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_REMINDER_OFFSETS:
            raise ValueError(f"at most {MAX_REMINDER_OFFSETS} reminders per event (got {len(value)})")
        deltas = [parse_reminder_offset(v) for v in value]
        if len(set(deltas)) != len(deltas):
            raise ValueError(f"two offsets are the same length of time: {value}")
        return value

    @property
    def reminder_deltas(self) -> list[timedelta]:
        """The offsets as lengths of time, longest first."""
        return sorted((parse_reminder_offset(v) for v in self.reminder_offsets), reverse=True)


# A LINE group's id as LINE writes it: C and 32 hexadecimal digits.
LINE_GROUP_ID = re.compile(r"C[0-9a-f]{32}")


class WardCenter(_Section):
    ward: str = Field(min_length=1)
    name: str = Field(min_length=1)
    slack_channel: str = ""
    line_group_id: str = ""

    @field_validator("line_group_id")
    @classmethod
    def _group_id(cls, value: str) -> str:
        if value and not LINE_GROUP_ID.fullmatch(value):
            raise ValueError(f"expected a LINE group id: C and 32 hexadecimal digits (got {value!r})")
        return value


class WardNoticesSettings(_Section):
    # Where staff see each notice's answer sheet and hear of LINE groups the bot joined or left;
    # "" means [slack] default_channel.
    staff_channel: str = ""
    # Wards that have not answered (or answered 未定) are reminded this long before the answer deadline.
    remind_before: str = "2d"
    # On the meeting day, wards that attend are reminded at this time (HH:MM in [center] timezone), or an
    # hour before the meeting if it starts earlier.
    meeting_day_at: str = Field(default="08:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")

    @field_validator("remind_before")
    @classmethod
    def _remind_before(cls, value: str) -> str:
        parse_reminder_offset(value)
        return value

    @property
    def remind_delta(self) -> timedelta:
        return parse_reminder_offset(self.remind_before)


class Settings(_Section):
    center: CenterSettings = Field(default_factory=CenterSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    line: LineSettings
    slack: SlackSettings
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    conversation: ConversationSettings = Field(default_factory=ConversationSettings)
    business_hours: BusinessHoursSettings = Field(default_factory=BusinessHoursSettings)
    consultation: ConsultationSettings = Field(default_factory=ConsultationSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    wards: list[WardCenter] = Field(default_factory=list)
    ward_notices: WardNoticesSettings = Field(default_factory=WardNoticesSettings)

    # Where the file was read from; relative paths inside it are resolved against its folder.
    source: Path = Field(default=Path("."), exclude=True)

    @field_validator("wards")
    @classmethod
    def _unique_wards(cls, value: list[WardCenter]) -> list[WardCenter]:
        seen: set[str] = set()
        for ward in value:
            if ward.ward in seen:
                raise ValueError(f"duplicate ward {ward.ward!r}")
            seen.add(ward.ward)
        # An answer counts only from its ward's own channel or group: no two wards may share one.
        for key in ("slack_channel", "line_group_id"):
            used = [getattr(w, key) for w in value if getattr(w, key)]
            shared = sorted({v for v in used if used.count(v) > 1})
            if shared:
                raise ValueError(f"two wards have the same {key} {shared[0]!r}")
        return value

    @property
    def notices_channel(self) -> str:
        """Where notices' answer sheets go (the [slack] default channel unless [ward_notices] says)."""
        return self.ward_notices.staff_channel or self.slack.default_channel

    @functools.cached_property
    def calendar(self) -> BusinessCalendar:
        """Opening hours in the center's timezone, built once."""
        return self.business_hours.calendar(self.center.tz)

    def channel_for(self, category_id: str) -> str:
        """The Slack channel for a consultation category's cases (the default channel if it names none)."""
        for category in self.consultation.categories:
            if category.id == category_id and category.channel:
                return category.channel
        return self.slack.default_channel

    def category_label(self, category_id: str) -> str:
        for category in self.consultation.categories:
            if category.id == category_id:
                return category.label
        return category_id

    @property
    def database_path(self) -> Path:
        path = Path(self.storage.path)
        return path if path.is_absolute() else self.source.parent / path

    @property
    def backup_folder(self) -> Path | None:
        """Where nightly backups go (None: no nightly backup)."""
        if not self.backup.folder:
            return None
        path = Path(self.backup.folder)
        return path if path.is_absolute() else self.source.parent / path


def load_settings(path: str | Path, environ: dict[str, str] | None = None) -> Settings:
    """Read, substitute `${ENV}` references and validate; raise ConfigError on any problem."""
    path = Path(path)
    env = dict(os.environ) if environ is None else environ
    try:
        # utf-8-sig: a file saved with a byte order mark (Windows Notepad) reads as written.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {_toml_message(str(exc))}") from None
    unset: list[tuple[str, str]] = []
    raw = _substitute_env(raw, env, unset, ())
    if unset:
        raise ConfigError(f"{path}: {_unset_message(unset)}")
    if "source" in raw:
        raise ConfigError(f"{path}: source: unknown key")
    try:
        return Settings.model_validate({**raw, "source": path})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc)}") from None


def _toml_message(message: str) -> str:
    # tomllib says "Expected '=' ... (at line 5, column 7)"; lead with the line, which is what people look for.
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if not found:
        return f"invalid TOML: {message}"
    detail = message[: found.start()].strip()
    return f"line {found.group(1)}, column {found.group(2)}: invalid TOML: {detail}"


def _key_name(loc: tuple[str | int, ...]) -> str:
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part + 1}]"
        else:
            name += f".{part}" if name else part
    return name or "(top level)"


def _substitute_env(
    value: Any, env: dict[str, str], unset: list[tuple[str, str]], loc: tuple[str | int, ...]
) -> Any:
    """`${NAME}` replaced from `env`; every reference to an unset variable is added to `unset` as
    (key, NAME), so all of them are reported at once instead of one per run."""
    if isinstance(value, dict):
        return {k: _substitute_env(v, env, unset, (*loc, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, env, unset, (*loc, i)) for i, v in enumerate(value)]
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                unset.append((_key_name(loc), name))
                return ""
            return env[name]

        return _ENV_REF.sub(lookup, value)
    return value


def _unset_message(unset: list[tuple[str, str]]) -> str:
    if len(unset) == 1:
        key, name = unset[0]
        return f"{key}: environment variable {name} is not set"
    names = list(dict.fromkeys(name for _, name in unset))
    listed = ", ".join(f"{name} ({', '.join(k for k, n in unset if n == name)})" for name in names)
    return f"{len(names)} environment variables are not set: {listed}"


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    # A typo shows up as an unknown key plus a missing one; the unknown key is the one to fix.
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = tuple(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        what = "unknown key" + _did_you_mean(loc, errors)
    elif kind == "missing":
        what = "required key is missing"
    elif kind in ("value_error", "assertion_error"):
        what = str(first["msg"]).removeprefix("Value error, ")
    elif any(word in _key_name(loc) for word in ("secret", "token")) or not _scalar(first.get("input")):
        # Never echo a credential back: a whole table of the wrong kind ([[line]] for [line]) would
        # show its channel_secret; a table or list is named by its key alone.
        what = str(first["msg"])
    else:
        what = f"{first['msg']} (got {first.get('input')!r:.60})"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{_key_name(loc)}: {what}{more}"


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _did_you_mean(loc: tuple[str | int, ...], errors: list[Any]) -> str:
    missing = [
        str(e["loc"][-1]) for e in errors if e["type"] == "missing" and tuple(e["loc"][:-1]) == loc[:-1]
    ]
    close = difflib.get_close_matches(str(loc[-1]), missing, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
