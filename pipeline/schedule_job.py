"""Where a stored schedule finds the weekly job: keep this module and its name.

`newsletter schedule` stores its job in the database by reference, as the string
"pipeline.schedule_job:weekly_run" (`pipeline.ops.schedule.WEEKLY_JOB`), and every
scheduler started later imports the job from that name. A stored job outlives upgrades (it
is kept, not re-created, while its rule is unchanged, so that a missed run still fires), so
this name must keep resolving although the job itself lives in `pipeline.ops.schedule`.
"""

from pipeline.ops.schedule import weekly_run

__all__ = ["weekly_run"]
