"""The project's settings with their precedence: a flag > the environment (``TIDEMARK_...``) > ``tidemark.yaml``.

pydantic-settings merges the three sources, deepest key wins::

    tidemark run season --mode append                       # a flag: the init arguments
    TIDEMARK_PIPELINES__SEASON__MODE=append                 # the environment, nested with "__"
    TIDEMARK_CONNECTIONS__WAREHOUSE=duckdb:/data/wh.duckdb  # any key of the file can be set this way
    pipelines: {season: {mode: upsert}}                     # the file

Names in the environment are matched without regard to case (pydantic-settings lowercases them), so a pipeline or a
connection set from the environment has a lower-case name without ``-`` (``TIDEMARK_PIPELINES__MY_SEASON__MODE``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tidemark.project.models import Pipeline

ENV_PREFIX = "TIDEMARK_"


class ProjectSettings(BaseSettings):
    """``tidemark.yaml`` merged with the environment and the flags (a connection's block is checked on its own, with
    the file's positions: ``project.py``)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True, case_sensitive=False
    )
    connections: dict[str, str | dict[str, Any]] = Field(default_factory=dict)
    raw: dict[str, str] = Field(default_factory=dict)
    pipelines: dict[str, Pipeline] = Field(default_factory=dict)


class FileSource(PydanticBaseSettingsSource):
    """The parsed ``tidemark.yaml``: the last source, below the environment and the flags."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def merged(file_data: dict[str, Any], flags: dict[str, Any]) -> ProjectSettings:
    """The settings of ``file_data`` under the environment and ``flags`` (nested like the file)."""

    class Loaded(ProjectSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, FileSource(settings_cls, file_data)

    return Loaded(**flags)
