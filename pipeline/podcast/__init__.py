"""The podcast: the script read from an issue's highlights (`script`, built from
`pipeline.render`'s issue view), its text rewritten for the ear (`spoken`: no URLs, markup,
symbols or digits; a pronunciation lexicon), the text-to-speech engines behind one seam
(`speech`: espeak-ng or an OpenAI-compatible endpoint; `piper`: a neural Piper voice run with
ONNX Runtime, fed by `phonemes` and `voices`), broadcast loudness (`loudness`), the episode's
cover (`cover`), and the MP3 with tags, cover and chapter marks made from it in cached chunks
(`audio`). `pipeline.issue_files` writes them next to the issue's renderings."""
