"""The learned interest ranker: plain data (`data`), text features (`features`), the signals
(`signals`), the scorer that trains and calibrates them (`scorer`), MMR for diverse highlights
(`diversity`), embeddings cached on disk or in the database (`embed_cache`, `stored`), one
week's ranking from stored history (`weekly`) and the benchmark's CSV contract (`rank_csv`)."""
