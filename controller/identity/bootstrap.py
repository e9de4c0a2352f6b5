"""First administrator, default roles and the catalog; running it twice changes nothing."""

from dataclasses import dataclass, field

from controller.db.database import proxy
from controller.identity import catalog, passwords, projects, roles, users
from controller.identity.config import IdentitySection
from controller.identity.models import (
    CatalogEndpoint,
    CatalogService,
    Project,
    Role,
    RoleAssignment,
    User,
)

SERVICES = (("identity", "keystone"), ("image", "glance"), ("compute", "nova"))


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)

    def add(self, created: bool, what: str):
        self.lines.append(f"{'created' if created else 'exists '} {what}")


def run(
    config, *, admin_user, admin_password, admin_project, region=None, public_url=None
) -> Report:
    ctl = config.controller
    region = region or ctl.region
    url = public_url or ctl.public_url or f"grpc://{ctl.listen}"
    report = Report()
    with proxy.atomic():
        for name in roles.DEFAULT_ROLES:
            role = Role.get_or_none(Role.name == name)
            report.add(role is None, f"role {name}")
            if role is None:
                roles.create(name)
        project = Project.get_or_none(Project.name == admin_project)
        report.add(project is None, f"project {admin_project}")
        project = project or projects.create(admin_project, "Administrators")
        user = User.get_or_none(User.name == admin_user)
        report.add(user is None, f"user {admin_user}")
        if user is None:
            minimum = config.section(IdentitySection).minimum_password_length
            users.check_password_policy(admin_password, minimum, "admin-password")
            user = users.create(
                admin_user, passwords.hash_password(admin_password), default_project_id=project.id
            )
        admin_role = Role.get(Role.name == roles.ADMIN)
        exists = RoleAssignment.get_or_none(user=user.id, project=project.id, role=admin_role.id)
        report.add(exists is None, f"role assignment admin to {admin_user} on {admin_project}")
        if exists is None:
            roles.assign(user.id, project.id, admin_role.id)
        for type_, name in SERVICES:
            service = CatalogService.get_or_none(CatalogService.type == type_)
            report.add(service is None, f"service {type_} ({name})")
            service = service or catalog.create_service(type_, name)
            for interface in catalog.INTERFACES:
                endpoint = CatalogEndpoint.get_or_none(
                    service=service.id, interface=interface, region=region
                )
                shown = endpoint.url if endpoint else url  # an existing endpoint keeps its URL
                report.add(endpoint is None, f"endpoint {type_} {interface} {region} {shown}")
                if endpoint is None:
                    catalog.create_endpoint(service.id, interface, region, url)
    if all(line.startswith("exists") for line in report.lines):
        report.lines.append("nothing to do: the cloud was already bootstrapped")
    return report
