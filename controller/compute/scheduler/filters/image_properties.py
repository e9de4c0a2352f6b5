from controller.compute.scheduler.filters import BaseHostFilter

# Spellings images use for the same architecture (Nova's obj_fields.Architecture).
_ARCH_ALIASES = {
    "amd64": "x86_64",
    "x64": "x86_64",
    "i386": "i686",
    "i486": "i686",
    "i586": "i686",
    "x86": "i686",
    "arm64": "aarch64",
    "ppc64el": "ppc64le",
}


def canonical_arch(name: str) -> str:
    name = name.strip().lower()
    return _ARCH_ALIASES.get(name, name)


class ImagePropertiesFilter(BaseHostFilter):
    """Passes hosts that can run the image: architecture and hypervisor type among the host's
    supported instances, and the image's min_ram / min_disk within the host's totals (the
    flavor-against-image check is the API's; this one keeps a small host from ever being
    asked to hold an image that cannot fit it even empty)."""

    name = "ImagePropertiesFilter"

    def applies_to(self, request_spec) -> bool:
        image = request_spec.image
        return bool(
            image.architecture or image.hypervisor_type or image.min_ram_mb or image.min_disk_gb
        )

    def host_passes(self, host_state, request_spec) -> bool:
        return not self._problem(host_state, request_spec.image)

    def explain(self, host_state, request_spec) -> str:
        return self._problem(host_state, request_spec.image)

    @staticmethod
    def _problem(host, image) -> str:
        arch = canonical_arch(image.architecture) if image.architecture else ""
        hv_type = image.hypervisor_type.lower()
        if arch or hv_type:
            supported = [(canonical_arch(a), t.lower()) for a, t in host.supported_instances]
            if not any(
                (not arch or arch == a) and (not hv_type or hv_type == t) for a, t in supported
            ):
                return (
                    f"image needs arch={arch or 'any'} hypervisor={hv_type or 'any'}, "
                    f"host supports {supported or 'nothing declared'}"
                )
        if image.min_ram_mb > host.memory_mb_total - host.memory_mb_reserved:
            return f"image min_ram {image.min_ram_mb} MB above host's usable RAM"
        if image.min_disk_gb > host.disk_gb_total:
            return f"image min_disk {image.min_disk_gb} GB above host's disk"
        return ""
