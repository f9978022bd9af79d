"""Ledger tables of the study layer (migration 0006): milestones marked done by hand, exam
results and labs reused on client work. Queries live with their users (progress, impact)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Boolean, Date, DateTime, Float, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from labctl.ledger import Base, Ledger, utcnow


class MilestoneMark(Base):
    """`labctl done LAB --milestone N`: a milestone the engineer finished by hand."""

    __tablename__ = "milestone_marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    engineer: Mapped[str] = mapped_column(String(200), index=True)
    lab: Mapped[str] = mapped_column(String(64))
    milestone: Mapped[int] = mapped_column(Integer)  # 1-based, as `labctl show` numbers them
    at: Mapped[datetime] = mapped_column(DateTime)


class ExamResult(Base):
    """`labctl exam record`: one sitting of a certification exam."""

    __tablename__ = "exam_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    engineer: Mapped[str] = mapped_column(String(200), index=True)
    cert: Mapped[str] = mapped_column(String(64), index=True)
    taken_on: Mapped[date] = mapped_column(Date)
    score: Mapped[float] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(Boolean)
    domain_scores: Mapped[dict[str, Any]] = mapped_column(default=dict)  # domain id -> score
    recorded_at: Mapped[datetime] = mapped_column(DateTime)


class LabReuse(Base):
    """`labctl reuse record`: a lab's code or design used on a client project."""

    __tablename__ = "lab_reuses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    engineer: Mapped[str] = mapped_column(String(200), index=True)
    lab: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(200))
    used_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)


Row = TypeVar("Row", MilestoneMark, ExamResult, LabReuse)


def add(ledger: Ledger, row: MilestoneMark | ExamResult | LabReuse) -> None:
    """Write one row in its own transaction, stamped with the time it was recorded."""
    if isinstance(row, MilestoneMark):
        row.at = row.at or utcnow()
    else:
        row.recorded_at = row.recorded_at or utcnow()
    with ledger.session() as s:
        s.add(row)


def all_rows(ledger: Ledger, model: type[Row], engineer: str | None = None) -> list[Row]:
    """Every row of a study table (optionally one engineer's), oldest first."""
    q = select(model).order_by(model.id)
    if engineer is not None:
        q = q.where(model.engineer == engineer)
    with ledger.session() as s:
        return list(s.scalars(q))
