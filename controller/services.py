"""The areas the controller is made of, in start-up order.

Each module has `setup(app)`, which registers its servicers, policy defaults and background
tasks on the App. A manage module has `add_commands(subparsers)` for `stratus-manage`.
"""

AREAS = [
    "controller.identity.service",
    "controller.image.service",
    "controller.ca.service",
    "controller.network.service",
    "controller.compute.service",
]

MANAGE_COMMANDS = [
    "controller.identity.manage",
    "controller.image.manage",
    "controller.ca.manage",
]
