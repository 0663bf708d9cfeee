"""Who may do what: bearer tokens with scopes, and the care-relationship rule.

Every connected system authenticates with its own bearer token. Only the SHA-256 of a
token is stored; the token itself is shown once, when it is issued. A token carries
scopes: ``register`` (write the system's own records), ``lookup`` (resolve, search,
events), ``review`` (data-quality decisions), ``metrics`` (``/metrics``, no patient data)
and ``admin`` (opt-outs, audit, everything).

The disclosure rule (:func:`rule`, the one place that decides what a caller may see of a
person): a system sees a person's cross-reference and golden view only where it holds an
active record linked to that person (a care relationship), unless it declares an emergency
purpose (``ETREAT``) with a reason, which is flagged in the audit. Of a patient who
objected, a system sees only its own records, and a system holding none sees nothing.
Where the rule shows nothing, every surface answers as for a person who does not exist.
``admin`` is exempt.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from mpi.errors import Forbidden, InvalidInput, NotFound
from mpi.store import access as access_store
from mpi.store import systems as system_store
from mpi.store import tokens as token_store

SCOPES = ("register", "lookup", "review", "metrics", "admin")
TOKEN_PREFIX = "mpi_"


class Unauthenticated(Forbidden):
    """Raised when a request carries no bearer token, or one that is unknown or revoked."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated system and the person acting through it, as one request states.

    ``user_id``, ``user_role`` and ``user_org`` come from request headers (SDS user ID,
    role profile, ODS code) and are recorded, not verified: the connected system vouches
    for its users. ``purpose`` is ``TREAT`` or ``ETREAT`` (emergency, needs a reason).
    """

    system_id: int
    system_code: str
    scopes: frozenset[str]
    token_id: int
    user_id: str | None = None
    user_role: str | None = None
    user_org: str | None = None
    purpose: str = "TREAT"
    emergency_reason: str | None = None

    @property
    def is_emergency(self) -> bool:
        """Whether the caller declared an emergency (break-glass) purpose."""
        return self.purpose == "ETREAT"

    @property
    def is_admin(self) -> bool:
        """Whether the caller has the admin scope."""
        return "admin" in self.scopes


def hash_token(token: str) -> str:
    """The stored form of a token (tokens are long random strings, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        raise InvalidInput.single(
            "scopes", f"give one or more of {', '.join(SCOPES)} (unknown: {', '.join(unknown)})"
        )
    return wanted


def issue_token(
    conn: psycopg.Connection[Any], system_code: str, scopes: Sequence[str], *, actor: str
) -> str:
    """Issue a new token for a system and return it; only its hash is kept.

    Raises:
        NotFound: no such system.
        InvalidInput: an unknown or empty scope list.
    """
    wanted = _check_scopes(scopes)
    system = system_store.get_system(conn, system_code)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_store.insert_token(conn, system.id, hash_token(token), wanted, actor)
    return token


def rotate_token(
    conn: psycopg.Connection[Any],
    system_code: str,
    scopes: Sequence[str] | None = None,
    *,
    actor: str,
) -> str:
    """Revoke a system's tokens and issue one new token (same scopes unless given)."""
    system = system_store.get_system(conn, system_code)
    current = token_store.active_scopes(conn, system.id)
    token_store.revoke_tokens(conn, system.id)
    _forget_tokens()
    return issue_token(conn, system_code, scopes or current or ["lookup"], actor=actor)


def revoke_tokens(conn: psycopg.Connection[Any], system_code: str) -> int:
    """Revoke every token of a system; return how many were active."""
    system = system_store.get_system(conn, system_code)
    revoked = token_store.revoke_tokens(conn, system.id)
    _forget_tokens()
    return revoked


class TokenCache:
    """Active tokens recently found, by hash, for ``seconds`` (per process).

    Only tokens found active are kept, never unknown ones. Revoking or rotating in this
    process clears the cache at once; another process (``mpi systems revoke``, another
    worker) is seen within ``seconds``.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._found: dict[str, tuple[float, token_store.TokenRow]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> token_store.TokenRow | None:
        """A cached active token, if still fresh."""
        hit = self._found.get(token_hash)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, token_hash: str, row: token_store.TokenRow) -> None:
        """Remember an active token."""
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._found) > 10_000:
                self._found.clear()
            self._found[token_hash] = (time.monotonic() + self.seconds, row)

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self._found.clear()


_caches: weakref.WeakSet[TokenCache] = weakref.WeakSet()


def token_cache(seconds: float) -> TokenCache:
    """A token cache that revocations and rotations in this process clear."""
    cache = TokenCache(seconds)
    _caches.add(cache)
    return cache


def _forget_tokens() -> None:
    for cache in _caches:
        cache.clear()


def authenticate(
    conn: psycopg.Connection[Any], token: str | None, cache: TokenCache | None = None
) -> token_store.TokenRow:
    """The active token matching a presented bearer token.

    Args:
        conn: the database.
        token: the presented token.
        cache: recently found tokens (a revocation elsewhere is seen within its TTL).

    Raises:
        Unauthenticated: no token, or an unknown or revoked one.
    """
    if not token:
        raise Unauthenticated("send 'Authorization: Bearer <token>' (mpi systems token)")
    hashed = hash_token(token)
    found = cache.get(hashed) if cache is not None else None
    if found is None:
        found = token_store.find_token(conn, hashed)
        if found is None:
            raise Unauthenticated("the bearer token is unknown or revoked")
        if cache is not None:
            cache.put(hashed, found)
    return found


def require(caller: Caller, scope: str) -> None:
    """Refuse unless the caller has ``scope`` (``admin`` implies every scope).

    Raises:
        Forbidden: the scope is missing.
    """
    if scope not in caller.scopes and not caller.is_admin:
        raise Forbidden(f"this token lacks the {scope!r} scope")


def require_own_system(caller: Caller, system_code: str) -> None:
    """Refuse a write to another system's records.

    Raises:
        Forbidden: ``system_code`` is not the caller's system.
    """
    if system_code != caller.system_code:
        raise Forbidden(
            f"system {caller.system_code!r} may write only its own records, not {system_code!r}"
        )


# -- the disclosure rule -----------------------------------------------------------------


class NotDisclosed(NotFound):
    """Raised when the disclosure rule shows a caller nothing of a person.

    It is a :class:`~mpi.errors.NotFound` with the very message an unknown person gets,
    so that the answer cannot tell the two apart; only the audit records the difference.
    """


@dataclass(frozen=True, slots=True)
class Sight:
    """What the disclosure rule lets a caller see of one person (see :func:`rule`).

    ``basis`` is ``record`` (the caller holds a linked record), ``admin`` or
    ``emergency``. ``withheld`` is :data:`mpi.optout.WITHHELD_REASON` when the patient
    objected: the caller then sees its own records of the person and nothing else.
    """

    basis: str
    withheld: str | None = None


def rule(caller: Caller, *, held: bool, objected: bool, emergency: bool = True) -> Sight | None:
    """The disclosure rule: what a caller may see of one person, or ``None`` for nothing.

    Every surface that can disclose a person asks this one function (directly, through
    :func:`decide`, :func:`disclose` or :func:`visible`), and renders ``None`` exactly as
    it renders a person who does not exist: an empty searchset, a 404, no stub.

    1. ``admin`` sees everything.
    2. A patient who objected (``objected``): a caller holding a record of its own (``held``)
       sees those records only (system and local ID: its own data), never the golden view
       or another system's records; any other caller sees nothing, in an emergency too.
    3. A caller holding an active record linked to the person (a care relationship) sees
       the golden view and every system's records.
    4. A caller declaring the emergency purpose (``ETREAT`` with a reason, flagged in the
       audit) sees the same, where ``emergency`` allows it (a request about a patient;
       not the event stream, which discloses only persons the caller holds).
    5. Anyone else sees nothing.

    Args:
        caller: who asks.
        held: the caller's system holds an active record linked to the person (or, for a
            merged person, to the person it was merged into).
        objected: the person, or a person merged into it, objected to sharing.
        emergency: whether a declared emergency purpose counts here (default ``True``).

    Returns:
        The :class:`Sight`, or ``None``: the caller is shown nothing of the person.

    Example:
        >>> rule(caller, held=False, objected=False) is None  # no relationship: nothing
    """
    from mpi.optout import WITHHELD_REASON

    if caller.is_admin:
        return Sight("admin")
    if objected:
        return Sight("record", WITHHELD_REASON) if held else None
    if held:
        return Sight("record")
    if emergency and caller.is_emergency:
        return Sight("emergency")
    return None


def visible(
    conn: psycopg.Connection[Any], caller: Caller, person_pks: Iterable[int]
) -> dict[int, Sight]:
    """:func:`rule` for many active persons at once (searches): two reads.

    Returns:
        The persons among ``person_pks`` the caller may see, with what it may see; a
        person missing from the result is shown nothing (it is left out of the search).
    """
    from mpi.store import optout as optout_store

    pks = set(person_pks)
    if not pks:
        return {}
    held = pks if caller.is_admin else access_store.persons_held(conn, caller.system_id, pks)
    objected = optout_store.opted_out(conn, pks)
    seen = {pk: rule(caller, held=pk in held, objected=pk in objected) for pk in pks}
    return {pk: s for pk, s in seen.items() if s is not None}


def records_shown(
    conn: psycopg.Connection[Any], caller: Caller, person_pk: int, sight: Sight
) -> list[access_store.LinkedRecord]:
    """The active records of a person that a :class:`Sight` shows: every system's, or
    the caller's own only when the patient objected."""
    records = access_store.linked_records(conn, person_pk)
    if sight.withheld:
        return [r for r in records if r.system_id == caller.system_id]
    return records


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What a caller may see of one person, and why (the :func:`rule` applied).

    ``basis`` is ``record`` (the caller holds a linked record), ``admin`` or ``emergency``.
    ``withheld`` is set (to :data:`mpi.optout.WITHHELD_REASON`) when the patient objected:
    ``records`` then holds only the caller's own records and the golden view is withheld.
    A merged person has no records; ``merged_into`` names the survivor. ``nhs_number`` is
    the golden NHS number (the one :func:`mpi.identities.golden_view` gives).
    """

    person_pk: int
    person_id: str
    status: str
    merged_into: str | None
    basis: str
    withheld: str | None
    records: tuple[access_store.LinkedRecord, ...]
    nhs_number: str | None = None

    @property
    def is_withheld(self) -> bool:
        """Whether the patient's objection withholds the cross-reference."""
        return self.withheld is not None


def golden_nhs_number(records: Iterable[access_store.DisclosedRecord]) -> str | None:
    """The NHS number of the golden view: the first in survivorship order that has one.

    The order is that of :func:`mpi.identities.survivorship_order` (records with an NHS
    number, verified first, most trusted system, most recently updated), ties broken by
    system code and local ID as the golden view's records come.
    """
    ordered = sorted(
        records,
        key=lambda r: (
            r.nhs_number is None,
            not r.nhs_verified,
            r.trust_rank,
            -r.updated_epoch,
            r.system_code,
            r.local_id,
        ),
    )
    return next((r.nhs_number for r in ordered if r.nhs_number), None)


def person_facts(
    conn: psycopg.Connection[Any], caller: Caller, person_id: str
) -> access_store.PersonFacts | None:
    """What the access rules need about a person (by enterprise ID), or ``None``."""
    return access_store.person_facts(conn, person_id, caller.system_id)


def record_facts(
    conn: psycopg.Connection[Any], caller: Caller, system_code: str, local_id: str
) -> access_store.PersonFacts | None:
    """What the access rules need about the person of an active record, or ``None``."""
    return access_store.record_facts(conn, system_code, local_id, caller.system_id)


def decide(
    conn: psycopg.Connection[Any], caller: Caller, facts: access_store.PersonFacts
) -> Disclosure | None:
    """Open a person for a caller under :func:`rule`, or ``None`` (shown nothing).

    A merged person is judged by its survivor and disclosed as a pointer to it.
    """
    if facts.status != "active":
        return _disclose_merged(conn, caller, facts)
    sight = rule(caller, held=facts.held, objected=facts.opted_out)
    if sight is None:
        return None
    records = facts.records
    if sight.withheld:
        records = tuple(r for r in records if r.system_id == caller.system_id)
    return Disclosure(
        person_pk=facts.pk,
        person_id=facts.person_id,
        status=facts.status,
        merged_into=None,
        basis=sight.basis,
        withheld=sight.withheld,
        records=tuple(r.linked() for r in records),
        nhs_number=None if sight.withheld else golden_nhs_number(facts.records),
    )


def _disclose_merged(
    conn: psycopg.Connection[Any], caller: Caller, facts: access_store.PersonFacts
) -> Disclosure | None:
    from mpi.store import persons as person_store

    survivor = person_store.get_person_by_pk(conn, facts.pk)
    assert survivor is not None
    for _ in range(20):  # follow merge pointers to the surviving person
        if survivor.merged_into is None:
            break
        following = person_store.get_person(conn, survivor.merged_into)
        if following is None:
            break
        survivor = following
    judged = access_store.person_facts(conn, survivor.person_id, caller.system_id)
    if judged is None:
        return None
    sight = rule(caller, held=judged.held, objected=judged.opted_out)
    if sight is None:
        return None
    return Disclosure(
        person_pk=facts.pk,
        person_id=facts.person_id,
        status=facts.status,
        merged_into=survivor.person_id if survivor.id != facts.pk else None,
        basis=sight.basis,
        withheld=sight.withheld,
        records=(),
    )


def sees_in_full(conn: psycopg.Connection[Any], caller: Caller, person_id: str) -> bool:
    """Whether :func:`rule` shows the caller this active person's golden view and records.

    A registration reply explains its score (field by field, against the scored person's
    records) only for such a person, so that registering is no way to test a guess about
    someone the caller may not see.
    """
    facts = person_facts(conn, caller, person_id)
    if facts is None or facts.status != "active":
        return False
    sight = rule(caller, held=facts.held, objected=facts.opted_out)
    return sight is not None and sight.withheld is None


def disclose(conn: psycopg.Connection[Any], caller: Caller, person_id: str) -> Disclosure:
    """Open a person (by enterprise ID) for a caller: see :func:`decide`.

    Raises:
        NotFound: no such person.
        NotDisclosed: the caller may see nothing of the person (the same message).
    """
    facts = person_facts(conn, caller, person_id)
    if facts is None:
        raise NotFound(unknown_person(person_id))
    seen = decide(conn, caller, facts)
    if seen is None:
        raise NotDisclosed(unknown_person(person_id))
    return seen


def unknown_person(person_id: str) -> str:
    """The message of a person that does not exist (or that the caller may not see)."""
    return f"no person {person_id!r}"
