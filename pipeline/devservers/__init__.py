"""Local stand-ins for remote services, for tests, the offline demo and benchmarks: an
arXiv-API-compatible server (`arxiv_api`) and an OpenAI-compatible one (`openai_api`: chat,
embeddings, speech), sharing a background-thread lifecycle (`background`)."""
