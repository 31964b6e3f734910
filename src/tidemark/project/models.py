"""The project file's language: ``tidemark.yaml`` as pydantic models (docs/project.md).

::

    connections:                       # name -> a sink URL, or a config block of a sink kind
      warehouse: duckdb:warehouse.duckdb
      pg: {type: postgres, host: db, database: mlb, user: tidemark, password_env: TIDEMARK_PG_PASSWORD}
    raw:                               # name -> a raw store: a directory, duckdb:FILE, postgresql://...
      mlb: raw/
    pipelines:
      sample: {mapping: mlb:live_game, input: [games/], connection: warehouse}
      season: {mapping: mlb:live_game, raw: mlb, connection: warehouse, ingest: {backfill: {season: 2024}}}

Secrets are references only: ``${VAR}`` inside a string, or ``password_env: VAR``; they are read from the
environment when a connection is opened (``connections.py``), never stored in a model, never printed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tidemark.contract.counts import Mode
from tidemark.sinks.csv import CsvConfig
from tidemark.sinks.delta import DeltaConfig
from tidemark.sinks.duckdb import DuckDBConfig
from tidemark.sinks.parquet import ParquetConfig

_STRICT = ConfigDict(extra="forbid", frozen=True)


class PostgresBlock(BaseModel):
    """A PostgreSQL connection as a block; the password only as ``password_env`` (or ``${VAR}``)."""

    model_config = _STRICT
    type: Literal["postgres"]
    host: str = "localhost"
    port: int = 5432
    database: str
    user: str | None = None
    password_env: str | None = Field(None, description="the environment variable holding the password")
    options: dict[str, str] = Field(default_factory=dict, description="more libpq settings, e.g. sslmode")
    foreign_keys: bool = True


ConnectionBlock = Annotated[
    PostgresBlock | DuckDBConfig | DeltaConfig | ParquetConfig | CsvConfig, Field(discriminator="type")
]
#: the model of each kind a connection block may name (``type:``)
KIND_MODELS: dict[str, type[BaseModel]] = {
    "duckdb": DuckDBConfig,
    "postgres": PostgresBlock,
    "delta": DeltaConfig,
    "parquet": ParquetConfig,
    "csv": CsvConfig,
}
KINDS = tuple(KIND_MODELS)


class Backfill(BaseModel):
    """What ``tidemark backfill`` fetches: a season or a date range."""

    model_config = _STRICT
    season: int | None = None
    start: str | None = Field(None, description="first date, YYYY-MM-DD")
    end: str | None = Field(None, description="last date, YYYY-MM-DD")
    game_types: list[str] | None = Field(None, description="R regular season, F,D,L,W postseason, S spring")
    with_: list[str] | None = Field(None, alias="with", description="also fetch: boxscore, people, teams")
    concurrency: int = Field(4, ge=1)


class Live(BaseModel):
    """What ``tidemark live`` follows: the games of a day, polled until they are over."""

    model_config = _STRICT
    date: str | None = Field(None, description="YYYY-MM-DD; default: today in New York")
    min_interval: float = Field(5.0, gt=0)
    max_interval: float = Field(60.0, gt=0)
    concurrency: int = Field(4, ge=1)


class Ingest(BaseModel):
    """What a pipeline fetches from the MLB Stats API into its raw store before loading (one of the two)."""

    model_config = _STRICT
    backfill: Backfill | None = None
    live: Live | None = None
    replay: str | None = Field(None, description="answer requests from recorded responses in this directory")
    rate: float | None = Field(None, gt=0, description="requests per second")


class Schedule(BaseModel):
    """When ``tidemark deploy`` runs the pipeline on a cluster."""

    model_config = _STRICT
    cron: str = Field(description="a cron expression, e.g. '0 6 * * *'")
    timezone: str = "America/New_York"


class Pipeline(BaseModel):
    """One pipeline: what it reads (``input`` files or a ``raw`` store), with which mapping, into which connection."""

    model_config = _STRICT
    description: str | None = None
    mapping: str = Field(description="a mapping file (relative to the project) or a built-in such as mlb:live_game")
    connection: str = Field(description="a name in `connections`, or a sink URL")
    input: list[str] | None = Field(None, description="files or directories of documents")
    raw: str | None = Field(None, description="a name in `raw`, or a raw store location")
    select: str | None = Field(None, description="with raw: endpoint or endpoint/method")
    mode: Mode = "upsert"
    engine: str = "local"
    batch_documents: int = Field(64, ge=1)
    ingest: Ingest | None = None
    schedule: Schedule | None = None
    image: str | None = Field(None, description="the container image `tidemark deploy` uses")

    @field_validator("input", mode="before")
    @classmethod
    def _one_input(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v
