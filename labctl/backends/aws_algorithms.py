"""Moved to `labctl.backends.aws.images`; kept for `backends/modules.py` until it imports that."""

from labctl.backends.aws.images import IMAGES, image_uri, repositories

__all__ = ["IMAGES", "image_uri", "repositories"]
