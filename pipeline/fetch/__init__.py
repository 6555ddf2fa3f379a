"""Getting papers in: the source seam (`source.PaperSource`), the arXiv query API client
(`arxiv`), a paper's full text from arXiv's HTML or PDF (`fulltext`), and the include /
exclude term filters (`filters`). Both clients talk HTTP through one polite httpx transport
(`polite.PoliteTransport`), which owns the spacing between requests (3 s at least against
arxiv.org), the bounded retries with `pipeline.backoff` and `Retry-After`, and the final
failure they map to their errors. Nothing here touches the database: the `fetch` stage in
`pipeline.runner` stores what a source yields."""
