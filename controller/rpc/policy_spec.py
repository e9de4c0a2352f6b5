"""Each servicer method declares its policy rule; methods that declare none are refused.

    @rpc("identity:get_user", target=lambda request, auth: {"user_id": request.id})
    @rpc("image:upload_image", deferred=True)   # the method calls auth.authorize(...) itself
    @rpc.open                                   # no token needed (IssueToken, EnrollNode)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class MethodSpec:
    rule: str | None
    target: Callable | None = None
    deferred: bool = False

    @property
    def is_open(self) -> bool:
        return self.rule is None


def rpc(rule: str, target: Callable | None = None, *, deferred: bool = False):
    def mark(fn):
        fn.__rpc_spec__ = MethodSpec(rule, target, deferred)
        return fn
    return mark


def _open(fn):
    fn.__rpc_spec__ = MethodSpec(None)
    return fn


rpc.open = _open


def specs_for(servicer, service_descriptor, default: MethodSpec | None = None) -> dict[str, MethodSpec]:
    """Full method name -> spec, for every method of the service. A method that declares none
    gets `default`; without one, it stops the start (fail closed)."""
    specs = {}
    for method in service_descriptor.methods:
        impl = getattr(type(servicer), method.name, None)
        spec = getattr(impl, "__rpc_spec__", default)
        if spec is None:
            raise RuntimeError(f"{service_descriptor.full_name}.{method.name} declares no policy rule")
        specs[f"/{service_descriptor.full_name}/{method.name}"] = spec
    return specs
