"""The domain's error root. The API maps each class to one HTTP problem, in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """The object does not exist, or the principal may not see it (the two are indistinguishable on purpose)."""

    def __init__(self, entity: str, ident: object) -> None:
        super().__init__(f"{entity} {ident} not found")
        self.entity = entity


class InvalidInput(DomainError):
    """Input that parses but breaks a rule; `field` names the part at fault."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


class Conflict(DomainError):
    """The request is valid but clashes with the current state (a duplicate, a reference in use)."""


class RulesBroken(Conflict):
    """A change that would break hard rules of the plan; each is (rule, subject, message)."""

    def __init__(self, violations: list[tuple[str, str, str]]) -> None:
        super().__init__("; ".join(f"{rule}: {message}" for rule, _, message in violations))
        self.violations = violations


class IllegalTransition(Conflict):
    def __init__(self, current: str, requested: str, detail: str | None = None) -> None:
        super().__init__(detail or f"cannot move a job from '{current}' to '{requested}'")
        self.current = current
        self.requested = requested


class StaleVersion(DomainError):
    """The client's version of the object is not the current one."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the object has changed; its current version is {current}")
        self.current = current


class PermissionDenied(DomainError):
    """The principal may see the object but not do this to it."""


class GeocodingFailed(DomainError):
    pass


class CompletionIncomplete(Conflict):
    """A completion refused because something it needs is missing; `missing` lists each thing in words."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__("the job cannot be completed yet: " + "; ".join(missing))
        self.missing = missing
