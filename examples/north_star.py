"""Simulate a team-collaboration product and check Pug's North Star dashboard.

The simulation sends the life of a small SaaS product through the ``pug``
SDK, every message with an explicit timestamp. Teams sign up, members are
invited and accept, and people browse anonymously before they sign up. New
users create their first document (or do not), teams edit documents every
week, and some teams churn. It then defines the North Star (weekly active
teams) and three input metrics through the metrics API, creates a
dashboard, prints it, and compares every number the API returns with the
numbers the simulation computes from what it sent. It exits with status 1
and lists the differences when any number differs.

Run it against a server you started, with a fresh project::

    pug-server create-project demo
    python examples/north_star.py --host http://127.0.0.1:8000 \\
        --write-key pw_... --read-key pr_...

The simulation runs one week past the reported ones, with activity as
usual, so invites sent late in the last reported week can still be
accepted and that week's sign-ups get their whole 7-day activation window.
The dashboard shows the last reported week, the last one whose cohorts
have closed. The same ``--seed``, ``--weeks`` and end date always produce
the same messages with the same message ids, so a second run stores
nothing new. A project that holds
other data fails the checks, because the API counts that data too. The
expected values follow the metric semantics in docs/metrics.md: weeks are
half-open UTC intervals starting Monday, and a merged person counts once.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import random
import sys
import time
import uuid
from collections import defaultdict
from typing import Any

import requests

import pug

DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)
ACTIVATION_WINDOW = dt.timedelta(days=7)
#: Weeks simulated after the last reported one. A week covers the 7-day
#: activation window and the up to 4 days an invite waits to be accepted.
CLOSING_WEEKS = 1
PLANS = ("free", "pro", "enterprise")
PLAN_WEIGHTS = (0.6, 0.3, 0.1)
#: Invites a team sends in its first three weeks, by plan: (min, max).
FIRST_INVITES = {"free": (1, 4), "pro": (3, 8), "enterprise": (6, 12)}
#: Chance that an active team sends one more invite in a given week.
WEEKLY_INVITE_CHANCE = 0.4
ACCEPT_CHANCE = 0.7
TEAM_NAME_WORDS = (
    ("Amber", "Brisk", "Cobalt", "Dapper", "Eager", "Fuzzy", "Golden", "Humble"),
    ("Otters", "Pugs", "Herons", "Lynxes", "Badgers", "Falcons", "Moles", "Newts"),
)
#: Absolute tolerance for comparing rates, because tiles may round them.
RATE_TOLERANCE = 5e-4
SPARK_BARS = "▁▂▃▄▅▆▇█"
HTTP_TIMEOUT_SECONDS = 60

METRICS: list[dict[str, Any]] = [
    {
        "key": "weekly_active_teams",
        "name": "Weekly active teams",
        "period": "week",
        "measure": {
            "type": "unique_groups",
            "group_type": "team",
            "event": "Document Edited",
        },
    },
    {
        "key": "invite_conversion",
        "name": "Invite conversion",
        "period": "week",
        "measure": {
            "type": "ratio",
            "numerator": {"type": "unique_persons", "event": "Invite Accepted"},
            "denominator": {"type": "unique_persons", "event": "Invite Sent"},
        },
    },
    {
        "key": "activation_rate",
        "name": "Activation rate (first document within 7 days)",
        "period": "week",
        "measure": {
            "type": "activation",
            "start": "Signed Up",
            "action": "Document Created",
            "within": "7d",
            "unit": "person",
        },
    },
    {
        "key": "team_churn",
        "name": "Team churn",
        "period": "week",
        "measure": {"type": "churn", "event": "Document Edited", "unit": "group:team"},
    },
]
DASHBOARD = {
    "key": "north_star",
    "name": "North Star: weekly active teams",
    "north_star": "weekly_active_teams",
    "inputs": ["invite_conversion", "activation_rate", "team_churn"],
}


@dataclasses.dataclass
class Call:
    """One SDK call to make: the method name and its keyword arguments."""

    at: dt.datetime
    method: str
    arguments: dict[str, Any]


@dataclasses.dataclass
class Person:
    user_id: str
    anonymous_id: str
    team: str
    signed_up: dt.datetime


@dataclasses.dataclass
class Team:
    key: str
    name: str
    plan: str
    signed_up: dt.datetime
    #: The first week start in which the team sends nothing more, or None.
    churned: dt.datetime | None
    members: list[Person] = dataclasses.field(default_factory=list)

    def active_at(self, moment: dt.datetime) -> bool:
        return self.churned is None or moment < self.churned


class Simulation:
    """The product's history: the calls to send and what they add up to.

    :param start: the Monday (UTC midnight) the first simulated week starts.
    :param weeks: number of reported weeks. The simulation runs
        ``CLOSING_WEEKS`` more, so no message is dated on or after
        ``start + weeks + CLOSING_WEEKS`` weeks.
    """

    def __init__(self, seed: int, teams: int, weeks: int, start: dt.datetime) -> None:
        self.random = random.Random(seed)
        self.namespace = uuid.uuid5(
            uuid.NAMESPACE_URL, f"pug-north-star/{seed}/{start:%Y-%m-%d}"
        )
        self.start = start
        self.weeks = weeks
        self.simulated_weeks = weeks + CLOSING_WEEKS
        self.end = start + self.simulated_weeks * WEEK
        self.calls: list[Call] = []
        self.teams: list[Team] = []
        self.people: list[Person] = []
        # Facts for the expected values, by event name.
        self.events: dict[str, list[tuple[dt.datetime, str, str | None]]] = defaultdict(
            list
        )
        for number in range(teams):
            self._simulate_team(number)
        self.calls.sort(key=lambda call: call.at)
        for index, call in enumerate(self.calls):
            call.arguments["message_id"] = str(uuid.uuid5(self.namespace, str(index)))

    def signed_up_count(self) -> int:
        """Return how many persons signed up before the simulation ends."""
        return sum(person.signed_up < self.end for person in self.people)

    def week_starts(self) -> list[dt.datetime]:
        """Return the start of every simulated week, closing weeks included."""
        return [self.start + index * WEEK for index in range(self.simulated_weeks)]

    def reported_week_starts(self) -> list[dt.datetime]:
        return self.week_starts()[: self.weeks]

    def _simulate_team(self, number: int) -> None:
        rng = self.random
        signup_week = rng.randrange(max(1, self.weeks * 2 // 3))
        signed_up = self.start + signup_week * WEEK + rng.uniform(0, 7) * DAY
        churned = None
        if rng.random() < 0.3:
            churn_week = signup_week + rng.randint(2, self.simulated_weeks)
            if churn_week < self.simulated_weeks:
                churned = self.start + churn_week * WEEK
        plan = rng.choices(PLANS, PLAN_WEIGHTS)[0]
        name = f"{rng.choice(TEAM_NAME_WORDS[0])} {rng.choice(TEAM_NAME_WORDS[1])}"
        team = Team(f"team-{number:03d}", name, plan, signed_up, churned)
        self.teams.append(team)

        founder = self._sign_up(team, signed_up, invited=False)
        self._group(founder, team, signed_up + dt.timedelta(minutes=2))
        low, high = FIRST_INVITES[plan]
        for _ in range(rng.randint(low, high)):
            self._invite(team, rng.uniform(0.1, 21) * DAY)
        for week_start in self.week_starts():
            later = week_start - founder.signed_up
            if later > 3 * WEEK and rng.random() < WEEKLY_INVITE_CHANCE:
                self._invite(team, later + rng.uniform(0, 7) * DAY)
        for person in team.members:
            self._edit_weekly(team, person)

    def _sign_up(self, team: Team, moment: dt.datetime, *, invited: bool) -> Person:
        """Browse anonymously, identify with both ids, then sign up."""
        rng = self.random
        index = len(self.people)
        person = Person(f"user-{index:04d}", f"anon-{index:04d}", team.key, moment)
        self.people.append(person)
        team.members.append(person)
        if not invited:
            for _ in range(rng.randint(1, 3)):
                seen = moment - rng.uniform(0.01, 3) * DAY
                self._track(
                    seen,
                    None,
                    "Page Viewed",
                    {"path": "/pricing"},
                    anonymous_id=person.anonymous_id,
                )
        self._call(
            moment,
            "identify",
            user_id=person.user_id,
            anonymous_id=person.anonymous_id,
            traits={"email": f"{person.user_id}@example.com"},
        )
        self._track(
            moment + dt.timedelta(minutes=1), person, "Signed Up", {"invited": invited}
        )
        self._first_document(team, person)
        return person

    def _first_document(self, team: Team, person: Person) -> None:
        """Create the first document within 7 days, much later, or never.

        The two cases stay clear of the window's edge (at most 6.5 days, at
        least 8 days), so inclusive and exclusive window ends agree.
        """
        rng = self.random
        roll = rng.random()
        if roll < 0.65:
            delay = rng.uniform(0.05, 6.5) * DAY
        elif roll < 0.85:
            delay = rng.uniform(8, 20) * DAY
        else:
            return
        moment = person.signed_up + dt.timedelta(minutes=3) + delay
        if team.active_at(moment):
            self._track(moment, person, "Document Created", {"template": "blank"})

    def _group(self, person: Person, team: Team, moment: dt.datetime) -> None:
        self._call(
            moment,
            "group",
            user_id=person.user_id,
            group_id=team.key,
            group_type="team",
            traits={"name": team.name, "plan": team.plan},
        )

    def _invite(self, team: Team, after_signup: dt.timedelta) -> None:
        """Send an invite from a member; the invitee may accept and join."""
        rng = self.random
        sent = team.signed_up + after_signup
        members = [person for person in team.members if person.signed_up < sent]
        if not team.active_at(sent) or sent >= self.end or not members:
            return
        self._track(sent, rng.choice(members), "Invite Sent", {"role": "editor"})
        if rng.random() >= ACCEPT_CHANCE:
            return
        accepted = sent + rng.uniform(0.05, 4) * DAY
        if not team.active_at(accepted) or accepted >= self.end:
            return
        index = len(self.people)
        # The invitee opens the invite link before they have an account, so
        # "Invite Accepted" carries only the anonymous id; identify merges it.
        self._track(
            accepted,
            None,
            "Invite Accepted",
            {"role": "editor"},
            anonymous_id=f"anon-{index:04d}",
            team=team.key,
            person_key=f"user-{index:04d}",
        )
        person = self._sign_up(team, accepted + dt.timedelta(minutes=5), invited=True)
        self._group(person, team, person.signed_up + dt.timedelta(minutes=2))

    def _edit_weekly(self, team: Team, person: Person) -> None:
        rng = self.random
        for week_start in self.week_starts():
            week_end = week_start + WEEK
            if week_end <= person.signed_up or not team.active_at(week_start):
                continue
            if rng.random() >= 0.75:
                continue
            earliest = max(week_start, person.signed_up + dt.timedelta(minutes=10))
            span = (week_end - earliest).total_seconds()
            for _ in range(rng.randint(3, 15)):
                moment = earliest + dt.timedelta(seconds=rng.uniform(0, span))
                self._track(
                    moment,
                    person,
                    "Document Edited",
                    {
                        "words": rng.randint(10, 800),
                        "document_id": f"doc-{rng.randrange(10_000)}",
                    },
                )

    def _track(
        self,
        moment: dt.datetime,
        person: Person | None,
        event: str,
        properties: dict[str, Any],
        *,
        anonymous_id: str | None = None,
        team: str | None = None,
        person_key: str | None = None,
    ) -> None:
        if moment >= self.end:
            return
        team = team or (person.team if person else None)
        arguments: dict[str, Any] = {"event": event, "properties": properties}
        if person is not None:
            arguments["user_id"] = person.user_id
        if anonymous_id is not None:
            arguments["anonymous_id"] = anonymous_id
        if team is not None and event != "Page Viewed":
            arguments["groups"] = {"team": team}
        self._add(moment, "track", arguments)
        key = person_key or (person.user_id if person else anonymous_id)
        self.events[event].append((moment, key, team))

    def _call(self, moment: dt.datetime, method: str, **arguments: Any) -> None:
        if moment < self.end:
            self._add(moment, method, arguments)

    def _add(self, moment: dt.datetime, method: str, arguments: dict[str, Any]) -> None:
        arguments["timestamp"] = moment
        self.calls.append(Call(moment, method, arguments))

    def _week_index(self, moment: dt.datetime) -> int:
        return int((moment - self.start) // WEEK)

    def active_teams(self) -> list[set[str]]:
        """Return, per week, the teams with a "Document Edited" event."""
        weeks: list[set[str]] = [set() for _ in range(self.simulated_weeks)]
        for moment, _, team in self.events["Document Edited"]:
            weeks[self._week_index(moment)].add(team)
        return weeks

    def expected(self) -> dict[str, list[float | None]]:
        """Return each metric's value per simulated week, None where undefined.

        Values for the closing weeks are listed too, but their cohorts may
        still be open, so only the reported weeks are compared with the API.
        """
        active = self.active_teams()
        return {
            "weekly_active_teams": [len(teams) for teams in active],
            "invite_conversion": self._invite_conversion(),
            "activation_rate": self._activation(),
            "team_churn": self._churn(active),
        }

    def expected_by_plan(self, week: int) -> dict[str, int]:
        """Return weekly active teams in *week*, by the team's plan."""
        plans = {team.key: team.plan for team in self.teams}
        counts: dict[str, int] = defaultdict(int)
        for team in self.active_teams()[week]:
            counts[plans[team]] += 1
        return dict(counts)

    def _unique_persons(self, event: str) -> list[set[str]]:
        weeks: list[set[str]] = [set() for _ in range(self.simulated_weeks)]
        for moment, person, _ in self.events[event]:
            weeks[self._week_index(moment)].add(person)
        return weeks

    def _invite_conversion(self) -> list[float | None]:
        accepted = self._unique_persons("Invite Accepted")
        sent = self._unique_persons("Invite Sent")
        return [
            len(numerator) / len(denominator) if denominator else None
            for numerator, denominator in zip(accepted, sent, strict=True)
        ]

    def _activation(self) -> list[float | None]:
        """Share of each week's sign-ups that created a document within 7 days."""
        created: dict[str, list[dt.datetime]] = defaultdict(list)
        for moment, person, _ in self.events["Document Created"]:
            created[person].append(moment)
        cohorts: list[list[bool]] = [[] for _ in range(self.simulated_weeks)]
        for moment, person, _ in self.events["Signed Up"]:
            activated = any(
                moment <= action < moment + ACTIVATION_WINDOW
                for action in created[person]
            )
            cohorts[self._week_index(moment)].append(activated)
        return [sum(cohort) / len(cohort) if cohort else None for cohort in cohorts]

    def _churn(self, active: list[set[str]]) -> list[float | None]:
        """Share of teams active in the week before that are not active now."""
        rates: list[float | None] = []
        for index, current in enumerate(active):
            previous = active[index - 1] if index else set()
            rates.append(len(previous - current) / len(previous) if previous else None)
        return rates


def send(simulation: Simulation, write_key: str, host: str) -> dict[str, Any]:
    """Send every call through one pug client, showing progress on stderr."""
    client = pug.Client(write_key, host=host, flush_at=250, max_queue_size=20_000)
    total = len(simulation.calls)
    started = time.monotonic()
    for index, call in enumerate(simulation.calls, start=1):
        if not getattr(client, call.method)(**call.arguments):
            client.close(timeout=10)
            raise SystemExit(
                f"error: the pug client dropped message {index}: {client.stats()}"
            )
        if index % 2000 == 0 or index == total:
            delivered = client.flush(timeout=120)
            _progress(index, total, started)
            if not delivered:
                client.close(timeout=10)
                raise SystemExit(
                    f"error: delivery failed or timed out: {client.stats()}"
                )
    client.close(timeout=30)
    print(file=sys.stderr)
    return client.stats()


def _progress(done: int, total: int, started: float) -> None:
    width = 30
    filled = int(width * done / total)
    elapsed = time.monotonic() - started
    bar = "#" * filled + "." * (width - filled)
    print(
        f"\rsending [{bar}] {done}/{total} messages, {elapsed:.1f} s",
        end="",
        file=sys.stderr,
        flush=True,
    )


class MetricsApi:
    """The few metrics API calls the demo needs, with the read key."""

    def __init__(self, host: str, read_key: str) -> None:
        self.host = host.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {read_key}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(
            method, self.host + path, timeout=HTTP_TIMEOUT_SECONDS, **kwargs
        )

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise SystemExit(
                f"error: {method} {path} failed with {response.status_code}: "
                f"{response.text[:500]}"
            )
        return response.json()

    def define(self, metric: dict[str, Any]) -> None:
        """Create the metric, or replace a stored one with the same key."""
        response = self.request("POST", "/v1/metrics", json=metric)
        if response.status_code == 409:
            self.json("PUT", f"/v1/metrics/{metric['key']}", json=metric)
        elif response.status_code >= 400:
            raise SystemExit(
                f"error: defining metric {metric['key']} failed with "
                f"{response.status_code}: {response.text[:500]}"
            )

    def create_dashboard(self, dashboard: dict[str, Any]) -> None:
        response = self.request("POST", "/v1/dashboards", json=dashboard)
        if response.status_code not in (200, 201, 409):
            raise SystemExit(
                f"error: creating the dashboard failed with {response.status_code}: "
                f"{response.text[:500]}"
            )


def tile_values(tile: dict[str, Any]) -> dict[dt.date, Any]:
    """Return a tile's value per period start (UTC date), current included."""
    values = {}
    for point in [*tile.get("series", []), tile["previous"], tile["current"]]:
        if point and point.get("start"):
            start = dt.datetime.fromisoformat(point["start"].replace("Z", "+00:00"))
            values[start.astimezone(dt.timezone.utc).date()] = point["value"]
    return values


def differs(expected: float | None, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is not actual
    if isinstance(expected, int):
        return actual != expected
    return not math.isclose(expected, actual, abs_tol=RATE_TOLERANCE)


def compare(
    simulation: Simulation, tiles: dict[str, dict[str, Any]], segments: dict[str, Any]
) -> tuple[int, list[str]]:
    """Compare the API's numbers with the simulation's; return (checked, differences)."""
    expected = simulation.expected()
    weeks = [start.date() for start in simulation.reported_week_starts()]
    checked = 0
    differences = []
    for key, tile in tiles.items():
        actual = tile_values(tile)
        for week, value in zip(weeks, expected[key][: simulation.weeks], strict=True):
            if week not in actual:
                continue
            checked += 1
            if differs(value, actual[week]):
                differences.append(
                    f"{key} week of {week}: expected {value}, API returned {actual[week]}"
                )
        if weeks[-1] not in actual:
            differences.append(f"{key}: the tile has no period starting {weeks[-1]}")
    last = simulation.weeks - 1
    for when, week in (("current", last), ("previous", last - 1)):
        wanted = simulation.expected_by_plan(week)
        got = {row["segment"]: row[when] for row in segments.get("segments", [])}
        for plan in PLANS:
            checked += 1
            if got.get(plan, 0) != wanted.get(plan, 0):
                differences.append(
                    f"weekly_active_teams plan={plan} {when}: expected "
                    f"{wanted.get(plan, 0)}, API returned {got.get(plan)}"
                )
    return checked, differences


def sparkline(values: list[Any]) -> str:
    numbers = [value for value in values if isinstance(value, (int, float))]
    if not numbers:
        return ""
    low, high = min(numbers), max(numbers)
    line = []
    for value in values:
        if not isinstance(value, (int, float)):
            line.append(" ")
            continue
        level = 0 if high == low else round((value - low) / (high - low) * 7)
        line.append(SPARK_BARS[level])
    return "".join(line)


def _format(value: Any, rate: bool) -> str:
    if value is None:
        return "-"
    if rate:
        return f"{value:.1%}"
    return f"{value:g}"


def _format_change(change: dict[str, Any], rate: bool) -> tuple[str, str]:
    absolute = change.get("absolute")
    relative = change.get("relative")
    if absolute is None:
        absolute_text = "-"
    elif rate:
        absolute_text = f"{absolute * 100:+.1f} pts"
    else:
        absolute_text = f"{absolute:+g}"
    relative_text = "-" if relative is None else f"{relative:+.1%}"
    return absolute_text, relative_text


def print_dashboard(dashboard: dict[str, Any], weeks: int) -> None:
    tiles = [dashboard["north_star"], *dashboard["inputs"]]
    current = dashboard["north_star"]["current"]
    print(f"\n{dashboard['name']}")
    print(
        f"week of {current['start'][:10]} ({dashboard['north_star'].get('timezone', 'UTC')},"
        f" weeks start {dashboard['north_star'].get('week_start', 'monday')})\n"
    )
    header = f"{'metric':<22} {'value':>8} {'previous':>9} {'change':>10} {'change %':>9}  trend"
    print(header)
    print("-" * (len(header) + weeks))
    for index, tile in enumerate(tiles):
        rate = tile["metric"] != "weekly_active_teams"
        absolute, relative = _format_change(tile["change"], rate)
        series = list(tile_values(tile).items())
        series.sort()
        trend = sparkline([value for _, value in series][-weeks:])
        name = tile["metric"] + (" *" if index == 0 else "")
        print(
            f"{name:<22} {_format(tile['current']['value'], rate):>8} "
            f"{_format(tile['previous']['value'], rate):>9} {absolute:>10} "
            f"{relative:>9}  {trend}"
        )
    print("\n* North Star")
    for tile in tiles:
        if tile["current"].get("window_closed") is False:
            # The API marks a cohort whose conversion window is still open.
            print(
                f"{tile['metric']}: the current cohort's window is still open, so "
                "the value can\nstill rise."
            )


def print_segments(tile: dict[str, Any]) -> None:
    print("\nweekly_active_teams by team plan (segment_by group.plan)\n")
    print(f"{'plan':<12} {'value':>6} {'previous':>9} {'change':>7}")
    for row in tile.get("segments", []):
        change = row.get("change", {}).get("absolute")
        change_text = "-" if change is None else f"{change:+g}"
        print(
            f"{row['segment']:<12} {row['current']:>6} {row['previous']:>9} {change_text:>7}"
        )


def last_complete_week_end(today: dt.date) -> dt.datetime:
    """Return the Monday 00:00 UTC that ends the last complete week before *today*."""
    monday = today - dt.timedelta(days=today.weekday())
    return dt.datetime.combine(monday, dt.time(), tzinfo=dt.timezone.utc)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--host",
        default="http://127.0.0.1:8000",
        help="the Pug server's base URL (default http://127.0.0.1:8000)",
    )
    parser.add_argument("--write-key", required=True, help="the project's write key")
    parser.add_argument("--read-key", required=True, help="the project's read key")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--teams", type=int, default=60, help="teams to simulate (default 60)"
    )
    parser.add_argument(
        "--weeks",
        type=int,
        default=14,
        help="weeks to report on the dashboard, at least 3 (default 14). "
        f"The simulation runs {CLOSING_WEEKS} more, so the last reported week's "
        "invites can be accepted and its activation windows close",
    )
    parser.add_argument(
        "--end",
        type=dt.date.fromisoformat,
        help="a date in the week after the last simulated one (default today, "
        "so the last simulated week is the last complete one and the "
        "dashboard reports the week before it)",
    )
    args = parser.parse_args(argv)
    if args.weeks < 3:
        parser.error(f"--weeks must be at least 3, got {args.weeks}")
    if args.teams < 1:
        parser.error(f"--teams must be at least 1, got {args.teams}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    end = last_complete_week_end(args.end or dt.datetime.now(dt.timezone.utc).date())
    start = end - (args.weeks + CLOSING_WEEKS) * WEEK
    simulation = Simulation(args.seed, args.teams, args.weeks, start)
    last_week = start + (args.weeks - 1) * WEEK
    print(
        f"simulating {len(simulation.teams)} teams, {simulation.signed_up_count()} persons, "
        f"{len(simulation.calls)} messages over {simulation.simulated_weeks} weeks "
        f"({start:%Y-%m-%d} to {end - DAY:%Y-%m-%d}), seed {args.seed}; "
        f"reporting {args.weeks} weeks to the week of {last_week:%Y-%m-%d}"
    )
    stats = send(simulation, args.write_key, args.host)
    print(
        f"delivered: sent={stats.get('sent')} rejected={stats.get('rejected')} "
        f"dropped={sum(stats.get('dropped', {}).values())}"
    )

    api = MetricsApi(args.host, args.read_key)
    for metric in METRICS:
        api.define(metric)
    api.create_dashboard(DASHBOARD)
    params = {
        "at": last_week.date().isoformat(),
        "periods": args.weeks,
        "timezone": "UTC",
        "week_start": "monday",
    }
    dashboard = api.json("GET", f"/v1/dashboards/{DASHBOARD['key']}", params=params)
    tiles = {
        tile["metric"]: tile for tile in [dashboard["north_star"], *dashboard["inputs"]]
    }
    segments = api.json(
        "GET",
        "/v1/metrics/weekly_active_teams/tile",
        params={**params, "segment_by": "group.plan"},
    )
    print_dashboard(dashboard, args.weeks)
    print_segments(segments)

    checked, differences = compare(simulation, tiles, segments)
    if stats.get("rejected"):
        differences.append(f"the server rejected {stats['rejected']} messages")
    if differences:
        print(f"\n{len(differences)} of {checked} numbers differ from the simulation:")
        for line in differences:
            print(f"  {line}")
        return 1
    print(f"\nchecked {checked} numbers against the simulation: all match")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
