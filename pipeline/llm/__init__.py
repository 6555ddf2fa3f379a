"""Language models behind two small seams (`base`: `ChatModel`, `Embedder`): any
OpenAI-compatible endpoint for chat (`openai_compat`) and embeddings (`embed_openai`), the
embedded defaults (`local`, run out of process by `local_server` from `weights`; MiniLM in
`embed_local`), bounded retries (`retry`) and prices and a budget (`cost`). Which one a run
uses is chosen from settings in `pipeline.wiring`."""
