"""The warranty rule, as a pure function of dates and the connectivity history.

No database and no settings here: ``services`` gathers the inputs (for one gateway or for a
fleet) and calls ``evaluate``, and the tests call it directly with a table of cases. The rule
and its choices are explained in docs/warranty.md.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from essmon.core.jst import JST  # the warranty is a Japanese contract: Japanese calendar days
from essmon.warranty.catalogue import Term

REGISTRATION_MONTHS = 3


class Status(StrEnum):
    PENDING = "pending"
    EXTENDED = "extended"
    STANDARD = "standard"
    AT_RISK = "at_risk"
    LAPSED = "lapsed"

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS = {
    Status.PENDING: "未確定",
    Status.EXTENDED: "延長保証",
    Status.STANDARD: "標準保証",
    Status.AT_RISK: "延長保証 失効のおそれ",
    Status.LAPSED: "延長保証 失効",
}


@dataclass(frozen=True)
class Policy:
    """The connection policy (settings ESSMON_WARRANTY_LAPSE_DAYS and _WARN_DAYS)."""

    lapse_days: int = 30
    warn_days: tuple[int, ...] = (7, 21)
    # below this a silence is a gateway restarting, not "offline" (ESSMON_OFFLINE_AFTER_MINUTES)
    offline_after: timedelta = timedelta(minutes=10)

    @property
    def lapse_after(self) -> timedelta:
        return timedelta(days=self.lapse_days)

    @property
    def at_risk_after(self) -> timedelta:
        # "at risk" from the first warning mail on, so the page, the fleet filter and the
        # mails agree; with the mails turned off, from a week
        return timedelta(days=min(self.warn_days) if self.warn_days else 7)


@dataclass(frozen=True)
class Connectivity:
    """A gateway's connectivity history in the shape the rule needs.

    ``gaps`` are the silences between two connections (end of one, start of the next). A
    caller may pass only those longer than the lapse: shorter ones cannot change the state,
    only the "longest offline" shown."""

    first_online: datetime | None  # start of its first connection (None: never heard)
    last_seen: datetime | None  # the last message heard
    gaps: Sequence[tuple[datetime, datetime]] = ()


@dataclass(frozen=True)
class OfflineStretch:
    start: datetime
    end: datetime | None  # None: still offline

    def length(self, now: datetime) -> timedelta:
        return (self.end or now) - self.start


@dataclass(frozen=True)
class WarrantyState:
    status: Status
    reason: str
    term: Term
    registered_on: date | None
    grid_connection_date: date | None
    received_date: date | None
    coverage_start: date | None
    coverage_end: date | None  # the last day covered, in the current state
    standard_end: date | None
    extended_end: date | None
    eligible: bool | None  # registered in time: None while the dates cannot tell
    connection_required_from: datetime | None
    longest_offline: OfflineStretch | None
    current_offline: OfflineStretch | None
    lapses_at: datetime | None  # at risk: the extension lapses then unless reconnected
    lapsed_at: datetime | None
    now: datetime

    @property
    def label(self) -> str:
        return self.status.label

    @property
    def can_certify(self) -> bool:
        return self.coverage_end is not None

    @property
    def years(self) -> int | None:
        if self.coverage_end is None:
            return None
        extended = self.status in (Status.EXTENDED, Status.AT_RISK)
        return self.term.extended_years if extended else self.term.standard_years

    @property
    def column_text(self) -> str:
        """One line for a table cell: the state and, when known, the end of coverage."""
        if self.coverage_end is None:
            return self.label
        return f"{self.label}({self.coverage_end:%Y/%m/%d}まで)"


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later; past the end of a shorter month, its
    last day (30 Nov + 3 months = 28 Feb, or 29 Feb in a leap year)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def registration_deadline(day: date) -> date:
    """The last day a registration counts as "within 3 months" of ``day`` (inclusive)."""
    return add_months(day, REGISTRATION_MONTHS)


def term_end(start: date, years: int) -> date:
    """The last day of a term of ``years`` counted from ``start`` (its first day), as the
    Civil Code counts periods (民法143条): the day before the corresponding day, or the end of
    the month when that month has no corresponding day (29 Feb into a common year)."""
    year = start.year + years
    if start.month == 2 and start.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, start.month, start.day) - timedelta(days=1)


def jst_date(moment: datetime) -> date:
    return moment.astimezone(JST).date()


def offline_stretches(
    connectivity: Connectivity, *, since: datetime, now: datetime
) -> list[OfflineStretch]:
    """The silences from ``since`` to ``now``, oldest first, each cut to start no earlier
    than ``since``: before the first connection, between connections, and the current one."""
    raw: list[tuple[datetime | None, datetime | None]] = []
    if connectivity.first_online is None:
        raw.append((None, None))
    else:
        raw.append((None, connectivity.first_online))
        raw.extend(sorted(connectivity.gaps))
        if connectivity.last_seen is not None:
            raw.append((connectivity.last_seen, None))
    stretches = []
    for start, end in raw:
        start = since if start is None or start < since else start
        if (end or now) > start:
            stretches.append(OfflineStretch(start, end))
    return stretches


def evaluate(
    *,
    grid_connection_date: date | None,
    received_date: date | None,
    registered_at: datetime | None,
    term: Term,
    connectivity: Connectivity,
    now: datetime,
    policy: Policy,
    recorded_lapse: tuple[datetime, datetime] | None = None,
) -> WarrantyState:
    """The warranty state of one system now. See docs/warranty.md for the rule.
    ``recorded_lapse`` (offline since, lapsed at) is a lapse seen earlier: it stands
    whatever the dates and the history say now."""
    dates = {"系統連系日": grid_connection_date, "受取日": received_date}
    known = {name: day for name, day in dates.items() if day is not None}
    missing = [name for name, day in dates.items() if day is None]
    start = min(known.values()) if not missing else None
    standard_end = term_end(start, term.standard_years) if start else None
    extended_end = term_end(start, term.extended_years) if start else None
    base: dict[str, Any] = dict(
        term=term,
        grid_connection_date=grid_connection_date,
        received_date=received_date,
        coverage_start=start,
        standard_end=standard_end,
        extended_end=extended_end,
        now=now,
    )
    if registered_at is None:
        return WarrantyState(
            status=Status.PENDING,
            reason="本登録が完了していないため、保証期間はまだ決まっていません。",
            registered_on=None,
            coverage_end=None,
            eligible=None,
            connection_required_from=None,
            longest_offline=None,
            current_offline=None,
            lapses_at=None,
            lapsed_at=None,
            **base,
        )
    registered_on = jst_date(registered_at)
    in_time = [name for name, day in known.items() if registered_on <= registration_deadline(day)]
    eligible: bool | None = True if in_time else (False if not missing else None)

    # Before the grid connection a system cannot be online, so the duty to stay connected
    # starts at the later of registration and the grid connection day: registering early,
    # right after delivery, must not cost the extension.
    required_from = registered_at
    if grid_connection_date is not None:
        required_from = max(required_from, _jst_midnight(grid_connection_date))
    stretches = offline_stretches(connectivity, since=required_from, now=now)
    longest = max(stretches, key=lambda s: s.length(now), default=None)
    lapse = next((s for s in stretches if s.length(now) > policy.lapse_after), None)
    lapsed_at = lapse.start + policy.lapse_after if lapse is not None else None
    if recorded_lapse is not None and (lapsed_at is None or recorded_lapse[1] < lapsed_at):
        lapse, lapsed_at = OfflineStretch(recorded_lapse[0], recorded_lapse[1]), recorded_lapse[1]
    trailing = stretches[-1] if stretches and stretches[-1].end is None else None
    current = trailing if trailing and trailing.length(now) > policy.offline_after else None
    facts: dict[str, Any] = dict(
        registered_on=registered_on,
        eligible=eligible,
        connection_required_from=required_from,
        longest_offline=longest,
        current_offline=current,
        **base,
    )
    std, ext = term.standard_years, term.extended_years
    reg = _day(registered_on)

    if eligible is False:
        assert grid_connection_date and received_date
        reason = (
            f"本登録日({reg})が、系統連系日({_day(grid_connection_date)})から3か月"
            f"({_day(registration_deadline(grid_connection_date))}まで)と、"
            f"受取日({_day(received_date)})から3か月"
            f"({_day(registration_deadline(received_date))}まで)の、どちらも過ぎていたため、"
            f"保証期間は標準の{std}年です。"
        )
        return WarrantyState(
            status=Status.STANDARD,
            reason=reason,
            coverage_end=standard_end,
            lapses_at=None,
            lapsed_at=None,
            **facts,
        )

    if lapse is not None and lapsed_at is not None:  # (each is set with the other)
        still = "オフラインのまま" if lapse.end is None else "続けてオフラインとなり"
        reason = (
            f"ゲートウェイが{_moment(lapse.start)}から{still}{policy.lapse_days}日を超えたため、"
            f"延長保証は{_moment(lapsed_at)}に失効しました。保証期間は標準の{std}年です。"
        )
        if grid_connection_date is None and lapse.start == required_from:
            reason += (
                "系統連系日が未入力のため、接続の条件は本登録日から数えています。"
                "系統連系日を入力すると、その日から数えます。"
            )
        reason += _missing_sentence(missing)
        return WarrantyState(
            status=Status.LAPSED,
            reason=reason,
            coverage_end=standard_end,
            lapses_at=None,
            lapsed_at=lapsed_at,
            **facts,
        )

    if current is not None and current.length(now) >= policy.at_risk_after:
        lapses_at = current.start + policy.lapse_after
        reason = (
            f"ゲートウェイが{_moment(current.start)}から{describe_duration(current.length(now))}"
            f"オフラインです。{_moment(lapses_at)}までに接続が戻らないと延長保証は失効し、"
            f"保証期間は標準の{std}年"
            + (f"({_day(standard_end)}まで)" if standard_end else "")
            + "になります。ゲートウェイの電源とインターネット回線をご確認ください。"
        )
        reason += _missing_sentence(missing)
        return WarrantyState(
            status=Status.AT_RISK,
            reason=reason,
            coverage_end=extended_end,
            lapses_at=lapses_at,
            lapsed_at=None,
            **facts,
        )

    if missing:
        reason = _missing_sentence(missing)
        if eligible:
            name = in_time[0]
            reason += (
                f"本登録日({reg})は{name}({_day(known[name])})から3か月以内のため、"
                f"接続が続けば保証期間は{ext}年に延長されます。"
            )
        elif known:
            name, day = next(iter(known.items()))
            reason += (
                f"本登録日({reg})は{name}({_day(day)})から3か月"
                f"({_day(registration_deadline(day))}まで)を過ぎています。"
                f"{missing[0]}から3か月以内の登録であれば、保証期間は{ext}年に延長されます。"
            )
        return WarrantyState(
            status=Status.PENDING,
            reason=reason,
            coverage_end=None,
            lapses_at=None,
            lapsed_at=None,
            **facts,
        )

    name = in_time[0]
    reason = (
        f"本登録日({reg})が{name}({_day(known[name])})から3か月以内"
        f"({_day(registration_deadline(known[name]))}まで)で、ゲートウェイの接続が続いているため、"
        f"保証期間は{ext}年に延長されています。"
        f"接続が{policy.lapse_days}日を超えて続けて途切れると、延長保証は失効します。"
    )
    return WarrantyState(
        status=Status.EXTENDED,
        reason=reason,
        coverage_end=extended_end,
        lapses_at=None,
        lapsed_at=None,
        **facts,
    )


def _missing_sentence(missing: list[str]) -> str:
    if not missing:
        return ""
    return f"{'と'.join(missing)}が入力されていないため、保証期間の終了日はまだ確定していません。"


def _jst_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=JST)


def _day(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else "—"


def _moment(moment: datetime) -> str:
    local = moment.astimezone(JST)
    return f"{_day(local.date())} {local:%H:%M}"


def describe_duration(length: timedelta) -> str:
    days, hours = length.days, length.seconds // 3600
    if days and hours:
        return f"{days}日{hours}時間"
    return f"{days}日" if days else f"{hours}時間"


# --- asking for the dates (registration and the main menu) ---------------------------------


def earliest_date_in_time(registered_on: date) -> date:
    """The earliest 系統連系日 or 受取日 for which a registration on ``registered_on`` is
    within 3 months (the inverse of ``registration_deadline``, month ends included)."""
    day = add_months(registered_on, -REGISTRATION_MONTHS)
    while registration_deadline(day - timedelta(days=1)) >= registered_on:
        day -= timedelta(days=1)
    while registration_deadline(day) < registered_on:
        day += timedelta(days=1)
    return day


def registration_outlook(
    *,
    grid_connection_date: date | None,
    received_date: date | None,
    today: date,
    term: Term,
    at_once: bool,
) -> str:
    """What the dates typed at registration mean for the extension, said before 「登録」.

    ``at_once``: the registration completes with the button (ゲートウェイの登録); otherwise
    it completes later, when the password is set from the mailed link (本登録)."""
    known = {
        name: day
        for name, day in (("系統連系日", grid_connection_date), ("受取日", received_date))
        if day is not None
    }
    ext, std = term.extended_years, term.standard_years
    if not known:
        return (
            f"系統連系日・受取日が未入力のため、{ext}年保証の期限はまだわかりません。"
            "登録後、モニタリングサイトの「保証」で入力できます。"
        )
    name, day = max(known.items(), key=lambda item: registration_deadline(item[1]))
    deadline = registration_deadline(day)
    if today <= deadline:
        if at_once:
            return (
                f"{name}({_day(day)})から3か月以内({_day(deadline)}まで)の登録となるため、"
                f"ゲートウェイの接続が続けば、保証期間は{ext}年になります。"
            )
        return (
            f"{ext}年保証の期限は{_day(deadline)}({name}から3か月)です。"
            f"この日までに、仮登録メールのURLからパスワードを登録して本登録を完了してください。"
        )
    missing = [n for n in ("系統連系日", "受取日") if n not in known]
    passed = f"{'と'.join(known)}から3か月の期限({_day(deadline)}まで)は過ぎています。"
    if missing:
        return (
            passed + f"{missing[0]}から3か月以内の登録であれば{ext}年保証の対象です。"
            f"そうでない場合、保証期間は標準の{std}年です。"
        )
    return passed + f"保証期間は標準の{std}年です。"


@dataclass(frozen=True)
class DatesPrompt:
    """The main menu's request for the dates of one registered system still missing one."""

    missing: tuple[str, ...]
    deadline: date | None  # the 3 months of the date entered, when one is
    deadline_passed: bool
    earliest_in_time: date  # a date from this day on makes the registration in time
    text: str
    lapsed: bool = False  # the extension is lost whatever the dates: no deadline to show
    deadline_of: str = ""  # the date entered that the deadline counts from


def dates_prompt(state: WarrantyState) -> DatesPrompt | None:
    """None once both dates are entered (or before the registration, which fixes the rest)."""
    if state.registered_on is None:
        return None
    dates = {"系統連系日": state.grid_connection_date, "受取日": state.received_date}
    missing = tuple(name for name, day in dates.items() if day is None)
    if not missing:
        return None
    known = {name: day for name, day in dates.items() if day is not None}
    reg, ext, std = _day(state.registered_on), state.term.extended_years, state.term.standard_years
    earliest = earliest_date_in_time(state.registered_on)
    known_deadline = registration_deadline(next(iter(known.values()))) if known else None
    if state.status == Status.LAPSED:
        text = (
            f"ゲートウェイの接続が途切れたため延長保証は失効し、保証期間は標準の{std}年です。"
            f"{'と'.join(missing)}を入力すると、保証期間の終了日が確定し、保証書を発行できます。"
        )
        passed = known_deadline is not None and state.registered_on > known_deadline
        return DatesPrompt(missing, known_deadline, passed, earliest, text, lapsed=True)
    if not known:
        text = (
            f"{ext}年保証は、系統連系日または受取日から3か月以内に登録し、"
            "ゲートウェイの接続を続けた場合の保証です。"
            f"本登録日は{reg}のため、系統連系日か受取日が{_day(earliest)}以降であれば対象です。"
            "日付を入力すると、保証期間が確定します。"
        )
        return DatesPrompt(missing, None, False, earliest, text)
    name, day = next(iter(known.items()))
    deadline = registration_deadline(day)
    passed = state.registered_on > deadline
    if not passed:
        text = (
            f"{name}({_day(day)})から3か月の期限({_day(deadline)}まで)内に登録済み({reg})のため、"
            f"接続が続けば保証期間は{ext}年です。{missing[0]}を入力すると保証期間の終了日が確定し、"
            "保証書を発行できます。"
        )
    else:
        text = (
            f"{name}({_day(day)})から3か月の期限({_day(deadline)}まで)は、本登録日({reg})より前に"
            f"過ぎています。{missing[0]}が{_day(earliest)}以降であれば{ext}年保証の対象です。"
            f"そうでない場合、保証期間は標準の{std}年です。"
        )
    return DatesPrompt(missing, deadline, passed, earliest, text, deadline_of=name)
