"""The LLM texts about papers: which texts an issue needs (`issue_jobs`), the prompts they
are asked with (`prompts`, versioned by content hash), asking, caching and budgeting them
(`texts`), checking what comes back (`validate`) and flagging what a text says that its
source does not (`faithfulness`). The model itself is behind `pipeline.llm`'s seam."""
