"""Registry tables (schema ``registry``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, text
from sqlmodel import Field, SQLModel

from kernel.areas import area_code_type
from kernel.tables import kernel_tables
from services.registry import SERVICE

KERNEL = kernel_tables(SQLModel.metadata, SERVICE)


class Area(SQLModel, table=True):
    """A node of the administrative hierarchy; ``code`` encodes its ancestry (kernel.areas)."""

    __tablename__ = "area"
    __table_args__ = {"schema": SERVICE}

    code: str = Field(sa_column=Column(area_code_type(), primary_key=True))
    parent_code: str | None = Field(
        sa_column=Column(area_code_type(), ForeignKey(f"{SERVICE}.area.code"), nullable=True, index=True)
    )
    level: str = Field(sa_column=Column(String(32), nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    name_local: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default=text("1")))
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
    updated_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    )
