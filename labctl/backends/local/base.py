"""What every part of the local target shares: its name, the bucket folder, equivalent prices."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from labctl import cost
from labctl.backends.base import Backend, Context


class LocalBase(Backend):
    """The base of the local target's mixins (training, tuning, serving) and its backend."""

    name = "local"
    offline_plugins: ClassVar[bool] = True

    def _price(self, ctx: Context, kind: str, instance_type: str) -> dict[str, Any]:
        """The cloud-equivalent price of what runs here (the local target itself costs $0)."""
        return cost.launch_price(ctx.prices, ctx.lab.cloud, kind, instance_type, equivalent=True)


def bucket(ctx: Context) -> Path:
    """The lab's bucket: a folder in its workspace (the module's `bucket` output)."""
    return Path(ctx.infra.get("bucket") or ctx.workspace / "bucket")
