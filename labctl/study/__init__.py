"""The study layer: milestones, progress, project scaffolds and impact on exam results."""
