"""Email: an issue as messages, rendered once and personalised per subscriber (`message`),
the signed tokens in their links (`tokens`), an SMTP connection from settings (`smtp`), and
sending an issue to every active subscriber exactly once, even across kills (`send`, with
the SMTP side of one batch in `batch`), and the mailing list as the operator and the sign-up
form see it: addresses checked, CSV import and export (`subscribers`; its rows and status rules
are `pipeline.store.subscribers`)."""
