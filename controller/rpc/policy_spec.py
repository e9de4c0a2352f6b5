"""Each servicer method declares its policy rule; methods that declare none are refused.

@rpc("identity:get_user", target=lambda request, auth: {"user_id": request.id})
@rpc("image:upload_image", deferred=True)   # the method calls auth.authorize(...) itself
@rpc.open                                   # no token needed (IssueToken, EnrollNode)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from google.protobuf.descriptor import ServiceDescriptor

    from controller.auth.context import CallAuth

# `target(request, call_auth)` -> the policy target: the values the rule's %(name)s refer to.
Target = Callable[[Any, "CallAuth"], Mapping[str, Any]]
Method = TypeVar("Method", bound=Callable[..., Any])


@dataclass(frozen=True)
class MethodSpec:
    rule: str | None
    target: Target | None = None
    deferred: bool = False

    @property
    def is_open(self) -> bool:
        return self.rule is None


class _Rpc:
    """The `@rpc(...)` decorator, and `@rpc.open` for the methods open without a token."""

    def __call__(
        self, rule: str, target: Target | None = None, *, deferred: bool = False
    ) -> Callable[[Method], Method]:
        def mark(fn: Method) -> Method:
            fn.__rpc_spec__ = MethodSpec(rule, target, deferred)  # type: ignore[attr-defined]
            return fn

        return mark

    @staticmethod
    def open(fn: Method) -> Method:
        fn.__rpc_spec__ = MethodSpec(None)  # type: ignore[attr-defined]
        return fn


rpc = _Rpc()


def specs_for(
    servicer: object, service_descriptor: ServiceDescriptor, default: MethodSpec | None = None
) -> dict[str, MethodSpec]:
    """Full method name -> spec, for every method of the service. A method that declares none
    gets `default`; without one, it stops the start (fail closed)."""
    specs = {}
    for method in service_descriptor.methods:
        impl = getattr(type(servicer), method.name, None)
        spec: MethodSpec | None = getattr(impl, "__rpc_spec__", default)
        if spec is None:
            raise RuntimeError(
                f"{service_descriptor.full_name}.{method.name} declares no policy rule"
            )
        specs[f"/{service_descriptor.full_name}/{method.name}"] = spec
    return specs
