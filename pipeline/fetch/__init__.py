"""Getting papers in: the source seam (`source.PaperSource`), the arXiv query API client
(`arxiv`), a paper's full text from arXiv's HTML or PDF (`fulltext`), and the include /
exclude term filters (`filters`). Nothing here touches the database: the `fetch` stage in
`pipeline.runner` stores what a source yields."""
