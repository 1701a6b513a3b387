"""The intent catalog file (YAML): intents, their routes and slots, training utterances.

Validated with pydantic so an admin's typo gives a clear error naming the intent and the field.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from services.common.errors import PermanentError
from services.router.routes import Route

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
DEFAULT_CATALOG = CATALOG_DIR / "intents.yaml"
HELDOUT_CATALOG = CATALOG_DIR / "heldout.yaml"
DECLARABLE_ROUTES = {Route.ANSWER, Route.AUTOMATION, Route.TICKET_STATUS, Route.HANDOFF, Route.SMALLTALK}


class SlotKind(StrEnum):
    """What a slot holds; decides the extractor."""

    SOFTWARE = "software"
    SYSTEM = "system"
    TICKET_NUMBER = "ticket_number"
    DATE = "date"
    HARDWARE_ITEM = "hardware_item"
    RESOURCE = "resource"
    FREE_TEXT = "free_text"


class SlotSpec(BaseModel):
    """A value an automation needs before it can run."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: SlotKind
    required: bool = False
    prompt: str | None = None


class IntentSpec(BaseModel):
    """One intent of the catalog."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=100)
    description: str = ""
    route: Route
    automation_flow: str | None = None
    slots: list[SlotSpec] = Field(default_factory=list)
    utterances: list[str] = Field(min_length=1)

    @field_validator("route")
    @classmethod
    def _declarable(cls, route: Route) -> Route:
        if route not in DECLARABLE_ROUTES:
            raise ValueError(f"route must be one of {sorted(r.value for r in DECLARABLE_ROUTES)}")
        return route

    @field_validator("utterances")
    @classmethod
    def _clean(cls, utterances: list[str]) -> list[str]:
        cleaned = list(dict.fromkeys(u.strip() for u in utterances if u and u.strip()))
        if not cleaned:
            raise ValueError("at least one non-empty utterance is needed")
        return cleaned

    @model_validator(mode="after")
    def _flow_matches_route(self) -> IntentSpec:
        if (self.route is Route.AUTOMATION) != (self.automation_flow is not None):
            raise ValueError("automation_flow is required for route 'automation' and only for it")
        return self


class Catalog(BaseModel):
    """The whole file; ``out_of_scope`` lists messages to learn as none of Deskpilot's business."""

    version: int = 1
    intents: list[IntentSpec]
    out_of_scope: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Catalog:
        names = [intent.name for intent in self.intents]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate intent names: {duplicates}")
        return self


class CatalogError(PermanentError):
    """The catalog file cannot be read or is invalid."""

    code = "invalid_intent_catalog"


def load_catalog(path: Path = DEFAULT_CATALOG) -> Catalog:
    """Read and validate a catalog file; raises CatalogError with the location of each problem."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: {exc}") from exc
    try:
        return Catalog.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()[:10]
        )
        raise CatalogError(f"{path}: {problems}") from exc
