"""The web app behind `newsletter serve` (`app`): the archive site, and the endpoints behind
the links in emails (subscribe with double opt-in, confirm, unsubscribe, feedback clicks
recorded by `clicks`), with their pages and the confirmation email (`pages`) and a per-process
rate limit on sign-up emails (`ratelimit`)."""
