"""Users, roles, passwords, browser sessions and login throttling.

Roles: ``viewer`` (read), ``editor`` (drafts), ``recorder`` (prompts only), ``publisher``
(publish, roll back) and ``admin`` (users, entries, settings — and everything else). A user
holds one or more roles. Passwords are hashed with argon2id. A session is a random token in an
HttpOnly, SameSite=Strict cookie; only its SHA-256 is stored. Each session has a CSRF token the
browser sends back in ``X-CSRF-Token`` on every state-changing call. Failed logins are counted
from the audit log, so throttling holds across processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from designer import audit
from designer.models import User, WebSession
from designer.problems import ApiError
from runtime.store.models import db_time

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "AuthSettings",
    "Principal",
    "Users",
    "permissions_of",
]

ROLES: dict[str, tuple[str, str]] = {
    "viewer": ("查看", "viewer"),
    "editor": ("编辑", "editor"),
    "recorder": ("录音", "recorder"),
    "publisher": ("发布", "publisher"),
    "operator": ("运营", "operator"),
    "admin": ("管理员", "admin"),
}

PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"flows.read"}),
    "editor": frozenset({"flows.read", "flows.write", "simulate"}),
    "recorder": frozenset({"flows.read", "prompts.write", "simulate"}),
    "publisher": frozenset({"flows.read", "simulate", "flows.publish"}),
    # the hotline's day-to-day business data the plugins keep: block/allow/VIP lists, the area
    # table, emergency closures, callback requests, SMS resends (team leaders, not admins)
    "operator": frozenset({"flows.read", "data.manage"}),
    "admin": frozenset(
        {
            "flows.read",
            "flows.write",
            "flows.publish",
            "prompts.write",
            "simulate",
            "users.manage",
            "entries.manage",
            "data.manage",
            "audit.read",
        }
    ),
}

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8


def permissions_of(roles: list[str]) -> frozenset[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


@dataclass
class AuthSettings:
    session_hours: float = 12.0
    """A session ends this long after sign-in."""
    idle_minutes: float = 120.0
    """…or after this long without a request."""
    throttle_window_min: float = 15.0
    max_failures_per_user: int = 5
    max_failures_per_ip: int = 20
    cookie_name: str = "ivrflow_session"
    cookie_secure: bool = False
    """Set when the designer is served over HTTPS (recommended in production)."""
    hasher: PasswordHasher = field(default_factory=PasswordHasher)


@dataclass(frozen=True)
class Principal:
    """The signed-in user of one request."""

    user_id: int
    username: str
    display_name: str
    roles: tuple[str, ...]
    csrf_token: str
    token_hash: str

    @property
    def permissions(self) -> frozenset[str]:
        return permissions_of(list(self.roles))

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def to_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "display_name": self.display_name,
            "roles": list(self.roles),
            "permissions": sorted(self.permissions),
        }


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _check_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ApiError(
            422,
            "user.roles",
            f"角色无效：{', '.join(unknown) or '（空）'}；可选：{', '.join(ROLES)}",
            f"invalid roles: {', '.join(unknown) or '(none)'}; choose from {', '.join(ROLES)}",
        )
    return sorted(set(roles), key=list(ROLES).index)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD or len(password) > 256:
        raise ApiError(
            422,
            "user.password_weak",
            f"密码长度须为 {MIN_PASSWORD}–256 个字符",
            f"a password has {MIN_PASSWORD} to 256 characters",
        )


class Users:
    """User accounts and sessions on one database (synchronous; call from a worker thread)."""

    def __init__(self, engine: Engine, settings: AuthSettings | None = None) -> None:
        self.engine = engine
        self.settings = settings or AuthSettings()
        self._dummy_hash = ""

    # -- accounts ---------------------------------------------------------------------------
    def count(self) -> int:
        with Session(self.engine) as session:
            return len(session.exec(select(User.id)).all())

    def create(
        self,
        username: str,
        password: str,
        roles: list[str],
        *,
        display_name: str = "",
        actor: str = "",
        ip: str = "",
    ) -> dict[str, Any]:
        if not USERNAME.fullmatch(username):
            raise ApiError(
                422,
                "user.username",
                "用户名只能包含字母、数字和 . _ @ -，以字母或数字开头，最长 64 个字符",
                "a username has letters, digits and . _ @ - (up to 64, starting with a "
                "letter or digit)",
            )
        _check_password(password)
        roles = _check_roles(roles)
        now = db_time()
        user = User(
            username=username,
            display_name=display_name[:100],
            password_hash=self.settings.hasher.hash(password),
            roles=roles,
            created_at=now,
            updated_at=now,
            password_changed_at=now,
        )
        with Session(self.engine) as session:
            session.add(user)
            audit.record(
                session, "user.create", actor=actor, target=username, ip=ip, detail={"roles": roles}
            )
            try:
                session.commit()
            except IntegrityError:
                raise ApiError(
                    409, "user.exists", f"用户 {username} 已存在", f"user {username} exists"
                ) from None
            session.refresh(user)
            return self._public(user)

    @staticmethod
    def _public(user: User) -> dict[str, Any]:
        return {
            "username": user.username,
            "display_name": user.display_name,
            "roles": list(user.roles),
            "active": user.active,
            "created_at": db_time(user.created_at).isoformat(),
            "last_login_at": db_time(user.last_login_at).isoformat()
            if user.last_login_at
            else None,
        }

    def list(self) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            users = session.exec(select(User).order_by(col(User.username))).all()
            return [self._public(u) for u in users]

    def _get(self, session: Session, username: str) -> User:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            raise ApiError(404, "user.unknown", f"没有用户 {username}", f"no user {username}")
        return user

    def update(
        self,
        username: str,
        *,
        roles: list[str] | None = None,
        active: bool | None = None,
        display_name: str | None = None,
        actor: str = "",
        ip: str = "",
    ) -> dict[str, Any]:
        with Session(self.engine) as session:
            user = self._get(session, username)
            if roles is not None:
                roles = _check_roles(roles)
                if roles != user.roles:
                    self._keep_an_admin(session, user, losing="admin" not in roles)
                    audit.record(
                        session,
                        "user.roles",
                        actor=actor,
                        target=username,
                        ip=ip,
                        detail={"from": list(user.roles), "to": roles},
                    )
                    user.roles = roles
            if active is not None and active != user.active:
                self._keep_an_admin(session, user, losing=not active)
                audit.record(
                    session,
                    "user.active",
                    actor=actor,
                    target=username,
                    ip=ip,
                    detail={"active": active},
                )
                user.active = active
                if not active:
                    session.exec(delete(WebSession).where(col(WebSession.user_id) == user.id))
            if display_name is not None:
                user.display_name = display_name[:100]
            user.updated_at = db_time()
            session.add(user)
            session.commit()
            session.refresh(user)
            return self._public(user)

    @staticmethod
    def _keep_an_admin(session: Session, user: User, *, losing: bool) -> None:
        if not losing or "admin" not in user.roles or not user.active:
            return
        admins = [
            u
            for u in session.exec(select(User).where(col(User.active).is_(True))).all()
            if "admin" in u.roles
        ]
        if len(admins) <= 1:
            raise ApiError(
                409,
                "user.last_admin",
                "不能移除最后一个管理员",
                "the last active admin cannot lose the admin role",
            )

    def set_password(
        self,
        username: str,
        new_password: str,
        *,
        old_password: str | None = None,
        actor: str = "",
        ip: str = "",
        keep_session: str | None = None,
    ) -> None:
        """Change a password (the user's own: ``old_password`` required); every other session
        of the user ends."""
        _check_password(new_password)
        with Session(self.engine) as session:
            user = self._get(session, username)
            if old_password is not None and not self._verify(user, old_password):
                raise ApiError(
                    403, "user.password_wrong", "原密码不正确", "the current password is wrong"
                )
            user.password_hash = self.settings.hasher.hash(new_password)
            user.password_changed_at = user.updated_at = db_time()
            session.add(user)
            query = delete(WebSession).where(col(WebSession.user_id) == user.id)
            if keep_session:
                query = query.where(col(WebSession.token_hash) != keep_session)
            session.exec(query)
            audit.record(session, "user.password", actor=actor, target=username, ip=ip)
            session.commit()

    def _burn(self, password: str) -> None:
        if not self._dummy_hash:
            self._dummy_hash = self.settings.hasher.hash(secrets.token_hex(16))
        with contextlib.suppress(VerificationError):
            self.settings.hasher.verify(self._dummy_hash, password)

    def _verify(self, user: User, password: str) -> bool:
        try:
            return self.settings.hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    # -- sessions ---------------------------------------------------------------------------
    def login(
        self, username: str, password: str, *, ip: str = "", user_agent: str = ""
    ) -> tuple[str, Principal]:
        """Check the password; return a new session token and its principal. Too many recent
        failures for this user or this address → 429 (without checking the password)."""
        settings = self.settings
        now = db_time()
        since = now - timedelta(minutes=settings.throttle_window_min)
        with Session(self.engine) as session:
            by_user = audit.count_recent(session, "login.failed", since=since, target=username)
            by_ip = audit.count_recent(session, "login.failed", since=since, ip=ip) if ip else 0
            if by_user >= settings.max_failures_per_user or by_ip >= settings.max_failures_per_ip:
                retry = int(settings.throttle_window_min * 60)
                raise ApiError(
                    429,
                    "auth.throttled",
                    f"登录失败次数过多，请 {int(settings.throttle_window_min)} 分钟后再试",
                    f"too many failed sign-ins; try again in "
                    f"{int(settings.throttle_window_min)} minutes",
                    headers={"Retry-After": str(retry)},
                )
            user = session.exec(select(User).where(User.username == username)).first()
            ok = user is not None and user.active and self._verify(user, password)
            if user is None:
                # the same work as a real check, so timing does not tell which names exist
                self._burn(password)
            if not ok or user is None:
                audit.record(
                    session, "login.failed", actor=username[:100], target=username[:100], ip=ip
                )
                session.commit()
                raise ApiError(
                    401, "auth.failed", "用户名或密码不正确", "wrong username or password"
                )
            if settings.hasher.check_needs_rehash(user.password_hash):
                user.password_hash = settings.hasher.hash(password)
            token = secrets.token_urlsafe(32)
            row = WebSession(
                token_hash=_token_hash(token),
                user_id=user.id or 0,
                csrf_token=secrets.token_urlsafe(24),
                created_at=now,
                expires_at=now + timedelta(hours=settings.session_hours),
                last_seen_at=now,
                ip=ip[:64],
                user_agent=user_agent[:300],
            )
            user.last_login_at = now
            session.add(user)
            session.add(row)
            # expired sessions of anyone are cleared now and then
            session.exec(delete(WebSession).where(col(WebSession.expires_at) < now))
            audit.record(session, "login", actor=user.username, target=user.username, ip=ip)
            session.commit()
            return token, self._principal(user, row)

    @staticmethod
    def _principal(user: User, row: WebSession) -> Principal:
        return Principal(
            user_id=user.id or 0,
            username=user.username,
            display_name=user.display_name,
            roles=tuple(user.roles),
            csrf_token=row.csrf_token,
            token_hash=row.token_hash,
        )

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a session cookie, or None (unknown, expired, idle, disabled)."""
        if not token or len(token) > 200:
            return None
        now = db_time()
        with Session(self.engine) as session:
            row = session.get(WebSession, _token_hash(token))
            if row is None:
                return None
            idle = timedelta(minutes=self.settings.idle_minutes)
            if db_time(row.expires_at) <= now or db_time(row.last_seen_at) + idle <= now:
                session.delete(row)
                session.commit()
                return None
            user = session.get(User, row.user_id)
            if user is None or not user.active:
                return None
            if now - db_time(row.last_seen_at) > timedelta(minutes=1):
                row.last_seen_at = now
                session.add(row)
                session.commit()
                session.refresh(row)
            return self._principal(user, row)

    def logout(self, principal: Principal, *, ip: str = "") -> None:
        with Session(self.engine) as session:
            session.exec(
                delete(WebSession).where(col(WebSession.token_hash) == principal.token_hash)
            )
            audit.record(
                session, "logout", actor=principal.username, target=principal.username, ip=ip
            )
            session.commit()
