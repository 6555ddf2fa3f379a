"""Running it week after week: the weekly job on a cron rule (`schedule`; the job itself is
`pipeline.schedule_job.weekly_run`, stored by that name), one run per issue at a time
(`lock`), what `newsletter status` reports (`status`), JSON-lines logs (`logfile`) and
progress bars on a terminal (`progress`)."""
