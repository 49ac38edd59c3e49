"""The admin side, REST only against any XNAT: install commands, automate, launch, follow.

The demo and scripts call these directly; `xnat-monai install|automate|launch|status` wrap them.
"""

from xnat_plugin.admin.automation import (
    SubscriptionInfo,
    subscribe_on_ai_segmentation_created,
    subscribe_on_session_created,
)
from xnat_plugin.admin.install import InstallReport, install_commands
from xnat_plugin.admin.launching import (
    BulkLaunched,
    Launched,
    assign_workflows,
    bulk_launch,
    launch,
)
from xnat_plugin.admin.watching import (
    ContainerInfo,
    JobInfo,
    list_containers,
    wait_for,
    wait_for_launches,
)
from xnat_plugin.admin.xapi import Xapi

__all__ = [
    "BulkLaunched",
    "ContainerInfo",
    "InstallReport",
    "JobInfo",
    "Launched",
    "SubscriptionInfo",
    "Xapi",
    "assign_workflows",
    "bulk_launch",
    "install_commands",
    "launch",
    "list_containers",
    "subscribe_on_ai_segmentation_created",
    "subscribe_on_session_created",
    "wait_for",
    "wait_for_launches",
]
