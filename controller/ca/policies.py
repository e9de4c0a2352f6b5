"""Default policy rules of the certificate authority (overridable in the policy file).

GetCACertificate, GetCRL and EnrollNode are open (public data; the enrollment token is the
credential) and RenewCertificate is authorized by the node listener's mutual TLS.
"""

from controller.auth.policy import RuleDefault

ADMIN = "rule:admin_required"

RULES = [
    RuleDefault("ca:create_enrollment_token", ADMIN, "Create a one-time node enrollment token"),
    RuleDefault("ca:revoke_certificate", ADMIN, "Revoke a node certificate"),
    RuleDefault("ca:get_certificate", ADMIN, "Show an issued certificate"),
    RuleDefault("ca:list_certificates", ADMIN, "List issued certificates"),
]
