"""All gateway SQL (SQLAlchemy Core on one connection; the caller owns the transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.models import ClientRecord, UserRecord, clients, credentials, signing_keys, users


class GatewayRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ---------------------------------------------------------------- clients
    async def insert_client(self, **values: Any) -> ClientRecord:
        row = (await self.conn.execute(insert(clients).values(**values).returning(clients))).one()
        return ClientRecord.from_row(row)

    async def client_exists(self, name: str) -> bool:
        return (await self.conn.scalar(select(func.count()).where(clients.c.name == name))) != 0

    async def get_client(self, id_or_name: str) -> ClientRecord | None:
        query = select(clients).where(or_(clients.c.id == id_or_name, clients.c.name == id_or_name))
        row = (await self.conn.execute(query)).first()
        return ClientRecord.from_row(row) if row else None

    async def list_clients(self, *, include_revoked: bool = False) -> list[ClientRecord]:
        query = select(clients).order_by(clients.c.name)
        if not include_revoked:
            query = query.where(clients.c.revoked_at.is_(None))
        return [ClientRecord.from_row(r) for r in await self.conn.execute(query)]

    async def revoke_client(self, client_id: str, at: datetime) -> None:
        await self.conn.execute(update(clients).where(clients.c.id == client_id).values(revoked_at=at))
        await self.conn.execute(
            update(credentials)
            .where(credentials.c.client_id == client_id, credentials.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def all_cors_origins(self) -> set[str]:
        query = select(func.unnest(clients.c.cors_origins)).where(clients.c.revoked_at.is_(None))
        return {str(r[0]) for r in await self.conn.execute(query)}

    # ---------------------------------------------------------------- credentials
    async def add_credential(self, *, id: str, client_id: str, kind: str, hash: str) -> None:
        await self.conn.execute(insert(credentials).values(id=id, client_id=client_id, kind=kind, hash=hash))

    async def expire_credentials(self, client_id: str, at: datetime) -> None:
        """Old credentials stop working at ``at`` (the end of a rotation's overlap)."""
        await self.conn.execute(
            update(credentials)
            .where(
                credentials.c.client_id == client_id,
                credentials.c.revoked_at.is_(None),
                or_(credentials.c.expires_at.is_(None), credentials.c.expires_at > at),
            )
            .values(expires_at=at)
        )

    async def client_by_credential(self, hash: str, kind: str) -> ClientRecord | None:
        """The live client owning a live credential with this hash."""
        now = func.now()
        query = (
            select(clients)
            .join(credentials, credentials.c.client_id == clients.c.id)
            .where(
                credentials.c.hash == hash,
                credentials.c.kind == kind,
                credentials.c.revoked_at.is_(None),
                or_(credentials.c.expires_at.is_(None), credentials.c.expires_at > now),
                clients.c.revoked_at.is_(None),
            )
        )
        row = (await self.conn.execute(query)).first()
        return ClientRecord.from_row(row) if row else None

    # ---------------------------------------------------------------- operators
    async def insert_user(self, **values: Any) -> UserRecord:
        row = (await self.conn.execute(insert(users).values(**values).returning(users))).one()
        return UserRecord.from_row(row)

    async def get_user(self, username: str) -> tuple[UserRecord, str] | None:
        row = (await self.conn.execute(select(users).where(users.c.username == username))).first()
        return (UserRecord.from_row(row), row._mapping["password_hash"]) if row else None

    async def list_users(self) -> list[UserRecord]:
        return [UserRecord.from_row(r) for r in await self.conn.execute(select(users).order_by(users.c.username))]

    async def update_user(self, username: str, **values: Any) -> UserRecord | None:
        query = update(users).where(users.c.username == username).values(**values).returning(users)
        row = (await self.conn.execute(query)).first()
        return UserRecord.from_row(row) if row else None

    # ---------------------------------------------------------------- signing keys
    async def signing_keys(self, retired_after: datetime) -> list[dict[str, Any]]:
        query = (
            select(signing_keys)
            .where(or_(signing_keys.c.retired_at.is_(None), signing_keys.c.retired_at > retired_after))
            .order_by(signing_keys.c.created_at.desc())
        )
        return [dict(r._mapping) for r in await self.conn.execute(query)]

    async def lock_signing_keys(self) -> None:
        """Serialise key creation/rotation across replicas starting together."""
        await self.conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("gateway:signing-keys"))))

    async def has_active_signing_key(self) -> bool:
        count = await self.conn.scalar(
            select(func.count()).select_from(signing_keys).where(signing_keys.c.retired_at.is_(None))
        )
        return bool(count)

    async def add_signing_key(self, *, kid: str, private_pem: str, public_jwk: dict[str, Any], at: datetime) -> None:
        await self.conn.execute(
            update(signing_keys).where(and_(signing_keys.c.retired_at.is_(None))).values(retired_at=at)
        )
        await self.conn.execute(
            insert(signing_keys).values(kid=kid, private_pem=private_pem, public_jwk=public_jwk, created_at=at)
        )
